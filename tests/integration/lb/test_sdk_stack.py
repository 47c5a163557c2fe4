"""`leapfrog up` with the lb component and a service on the SDK: requests through the
entry point reach the instances the SDK registered, with the route and prefix stripping
the stack file gave the service."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from leapfrog.testing import StackDir, sdk_service_user, wait_until

from .conftest import free_port

APP = Path(__file__).parent / "sdk_app.py"


def stack_text(  # noqa: PLR0917 (the addresses, then the version)
    listen: str,
    stats: str,
    http: int,
    dns: int,
    version: str,
    check: str = "{http: /health/ready}",
    extra: str = "",
) -> str:
    """`check`: the web service's check; `extra`: more lines of its section."""
    return (
        f"catalog:\n  http: 127.0.0.1:{http}\n  dns: 127.0.0.1:{dns}\n"
        f"components:\n  lb:\n    listen: {listen}\n    stats: {stats}\n"
        "services:\n"
        "  web:\n"
        "    command: ${LEAPFROG_PYTHON} sdk_app.py\n"
        "    replicas: 2\n"
        "    port: 8000\n"
        f"    version: {version}\n"
        "    route: {path: /web, strip_prefix: true}\n"
        f"    check: {check}\n"
        + extra
        + (f"    user: {user}\n" if (user := sdk_service_user()) else "")
    )


def test_sdk_instances_are_served_through_the_lb() -> None:
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    ports = (free_port(), free_port())
    with StackDir() as stack:
        shutil.copy(APP, stack.root / "sdk_app.py")
        stack.write(stack_text(listen, stats, *ports, "1.0.0"))
        result = stack.up(timeout=180)
        assert result.code == 0, result.output

        def answers() -> set[str]:
            seen = set()
            for _ in range(10):
                response = httpx.get(f"http://{listen}/web/x", timeout=5)
                if response.status_code != 200:
                    return set()
                seen.add(response.text.strip())
            return seen

        wait_until(
            lambda: answers() == {"web-1 1.0.0 /x", "web-2 1.0.0 /x"},
            timeout=30,
            what="both instances served, the prefix stripped",
        )
        # A new version: the instances are replaced, the lb follows their registrations.
        stack.write(stack_text(listen, stats, *ports, "2.0.0"))
        rolled = stack.up(timeout=180)
        assert rolled.code == 0, rolled.output
        wait_until(
            lambda: answers() == {"web-1 2.0.0 /x", "web-2 2.0.0 /x"},
            timeout=30,
            what="the new version served",
        )
