"""`leapfrog up` with the lb component: the entry point routes to instances that
registered themselves in the stack's catalog (with its ACL token, as the SDK does)."""

from __future__ import annotations

import shutil

import httpx
import pytest

from leapfrog.testing import StackDir, wait_until
from tests.integration.conftest import PYTHON

from .conftest import BACKEND, free_port


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_up_serves_registered_instances_through_the_lb(engine: str) -> None:
    listen, stats = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    with StackDir() as stack:
        shutil.copy(BACKEND, stack.root / "backend.py")
        stack.write(
            f"catalog:\n  http: 127.0.0.1:{free_port()}\n  dns: 127.0.0.1:{free_port()}\n"
            f"components:\n  lb:\n    engine: {engine}\n    listen: {listen}\n"
            f"    stats: {stats}\n"
            "services:\n"
            "  web:\n"
            "    replicas: 2\n"
            f"    command: {PYTHON} backend.py ${{CONSUL_HTTP_ADDR}} web ${{LEAPFROG_INSTANCE}}"
            " /web 0.5\n"
        )
        result = stack.up(timeout=180)
        assert result.code == 0, result.output
        assert stack.instance("lb-1")["state"] == "healthy"

        def both() -> bool:
            seen = set()
            for _ in range(10):
                response = httpx.get(f"http://{listen}/web", timeout=5)
                if response.status_code != 200:
                    return False
                seen.add(response.text.strip())
            return seen == {"web-1", "web-2"}

        wait_until(both, timeout=30, what="both instances served through the lb")
        assert httpx.get(f"http://{stats}/").status_code == 200  # the stats page
        log = stack.log("lb-1")
        assert '"kind":"access"' in log and '"path":"/web"' in log
