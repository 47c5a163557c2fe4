from __future__ import annotations

import pytest

from leapfrog.service import ServiceSettings, SettingsError

BASE = {"LEAPFROG_SERVICE": "hello", "LEAPFROG_INSTANCE": "hello-2", "HOST": "127.1.0.3"}


def test_reads_what_leapfrog_hands_an_instance() -> None:
    env = {
        **BASE,
        "PORT": "8001",
        "LEAPFROG_VERSION": "1.2.3",
        "LEAPFROG_DRAIN": "2s",
        "LEAPFROG_CHECK": "TTL",
        "LEAPFROG_ROUTE_PATH": "/hello",
        "LEAPFROG_ROUTE_STRIP_PREFIX": "false",
        "LEAPFROG_TAGS": "blue, canary",
        "CONSUL_HTTP_ADDR": "127.0.0.1:8500",
        "CONSUL_HTTP_TOKEN": "s3cret",
    }
    s = ServiceSettings.from_env(env=env)
    assert (s.name, s.instance, s.host, s.port) == ("hello", "hello-2", "127.1.0.3", 8001)
    assert s.version == "1.2.3" and s.drain == 2.0 and s.check == "ttl"
    assert s.meta == {"route_path": "/hello", "route_strip_prefix": "false"}
    assert s.tags == ("blue", "canary")
    assert s.consul_url == "http://127.0.0.1:8500"
    assert "s3cret" not in repr(s)


def test_code_overrides_the_environment() -> None:
    s = ServiceSettings.from_env("other", env=BASE, check="tcp", port=9000)
    assert (s.name, s.check, s.port) == ("other", "tcp", 9000)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"LEAPFROG_CHECK": "grpc"}, "LEAPFROG_CHECK"),
        ({"LEAPFROG_DRAIN": "forever"}, "LEAPFROG_DRAIN"),
        ({"LEAPFROG_REGISTER": "maybe"}, "LEAPFROG_REGISTER"),
        ({"LEAPFROG_SERVICE": "bad name!"}, "service name"),
    ],
)
def test_a_bad_value_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        ServiceSettings.from_env(env={**BASE, **env})


def test_a_name_is_required() -> None:
    with pytest.raises(SettingsError, match="LEAPFROG_SERVICE"):
        ServiceSettings.from_env(env={})
