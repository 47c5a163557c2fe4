from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from leapfrog.components import component
from leapfrog.components._lb_install import no_service_starts
from leapfrog.components.base import Installation, Instance


def where(tmp_path: Path) -> Instance:
    return Instance("lb", "lb-1", "127.0.0.1", 8080, tmp_path / "d", tmp_path / "s", tmp_path)


def test_options_and_process(tmp_path: Path) -> None:
    lb = component("lb")
    options = lb.options({"engine": "nginx", "listen": "127.0.0.1:9080", "wait": "10ms:1s"})
    assert lb.port(options) == 9080
    installation = Installation("1.22", Path("/usr/sbin"), {"binary": "/usr/sbin/nginx"})
    process = lb.process(options, installation, where(tmp_path))
    argv = list(process.argv)
    assert argv[1:5] == ["-m", "leapfrog", "lb", "run"]
    assert argv[argv.index("--engine") + 1] == "nginx"
    assert argv[argv.index("--binary") + 1] == "/usr/sbin/nginx"
    assert argv[argv.index("--wait") + 1] == "10ms:1s"
    assert lb.connection_env(options, where(tmp_path)) == {
        "LEAPFROG_LB_URL": "http://127.0.0.1:9080"
    }


@pytest.mark.parametrize(
    "raw",
    [{"engine": "traefik"}, {"wait": "1s:10ms"}, {"listen": "8080"}, {"colour": "red"}],
)
def test_bad_options_are_refused(raw: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        component("lb").options(raw)


def test_policy_rc_d_only_while_installing(tmp_path: Path) -> None:
    policy = tmp_path / "policy-rc.d"
    with no_service_starts(policy):
        assert policy.read_text().rstrip().endswith("exit 101")
    assert not policy.exists()
    policy.write_text("#!/bin/sh\nexit 0\n")
    with no_service_starts(policy):
        pass
    assert policy.read_text() == "#!/bin/sh\nexit 0\n"  # the machine's own one is kept
