"""The default HAProxy template's route map and backend pool: leapfrog's own logic; the
patterns are checked here with Python's `re`, and by real HAProxy in tests/integration/lb."""

from __future__ import annotations

import re

import pytest

from leapfrog.lb import ServiceInstance, route_of, sort_routes
from leapfrog.lb._haproxy import _cli_word
from leapfrog.lb._route_map import MIN_STRIP_DEPTH, RoutePool, route_pattern, strip_depth


def inst(port: int, **meta: str) -> ServiceInstance:
    return ServiceInstance(f"x-{port}", "x", "127.0.0.1", port, meta=meta)


def _python(pattern: str) -> re.Pattern[str]:
    """PCRE's `\\x{hh}` as Python writes it."""
    return re.compile(re.sub(r"\\x\{([0-9a-f]+)\}", lambda m: f"\\u{int(m[1], 16):04x}", pattern))


def _matches(route_meta: dict[str, str], host: str, path: str) -> bool:
    route = route_of("svc", [inst(1, **route_meta)])
    return _python(route_pattern(route)).match(f"{host.lower()}{path}?") is not None


@pytest.mark.parametrize(
    ("meta", "host", "path", "expected"),
    [
        ({"route_path": "/api"}, "any", "/api", True),
        ({"route_path": "/api"}, "any", "/api/x/y", True),
        ({"route_path": "/api"}, "any", "/apix", False),
        ({"route_path": "/api/"}, "any", "/api", False),  # /api/ takes /api/... only
        ({"route_path": "/api/"}, "any", "/api/x", True),
        ({"route_path": "/"}, "whatever", "/anything", True),
        ({"route_host": "h.localhost"}, "H.localhost", "/x", True),
        ({"route_host": "h.localhost"}, "hxlocalhost", "/x", False),  # a dot is a dot
        ({"route_host": "h.localhost"}, "h.localhost.evil", "/x", False),
        ({"route_host": "*.example.com"}, "a.b.example.com", "/", True),
        ({"route_host": "*.example.com"}, "example.com", "/", False),
        ({"route_host": "h.localhost", "route_path": "/x"}, "h.localhost", "/x/1", True),
        ({"route_host": "h.localhost", "route_path": "/x"}, "other", "/x/1", False),
        ({"route_path": "/a+b (c)"}, "any", "/a+b (c)/d", True),  # escaped, not regex
        ({"route_path": "/a+b"}, "any", "/aab", False),
        ({}, "svc.service.localhost", "/", True),  # unrouted: by its Host
    ],
)
def test_patterns_follow_the_documented_routes(
    meta: dict[str, str], host: str, path: str, expected: bool
) -> None:
    assert _matches(meta, host, path) is expected


def test_patterns_hold_nothing_a_map_file_or_the_cli_would_split() -> None:
    route = route_of("svc", [inst(1, route_path="/a b;c#d'e\"f\\g", route_host="h.localhost")])
    pattern = route_pattern(route)
    assert not set(pattern) & set(" \t;#'\"")
    assert _cli_word(pattern).replace("\\\\", "") == pattern.replace("\\", "")


def test_strip_depth_counts_segments() -> None:
    def depth(path: str, strip: str = "true") -> int:
        return strip_depth(route_of("s", [inst(1, route_path=path, route_strip_prefix=strip)]))

    assert (depth("/a"), depth("/a/b/"), depth("/"), depth("/a", "false")) == (1, 2, 0, 0)


def test_pool_keeps_each_service_its_backend_and_one_free() -> None:
    pool = RoutePool(minimum=2)

    def table(*names: str) -> dict[str, str | None]:
        routes = sort_routes([route_of(n, [inst(1, route_path=f"/{n}")]) for n in names])
        found = pool.table(routes)
        return {b.name: b.route.name if b.route else None for b in found.backends}

    assert table("a") == {"be1": "a", "be2": None}
    assert table("a", "b") == {"be1": "a", "be2": "b", "be3": None, "be4": None}
    assert table("b") == {"be1": None, "be2": "b", "be3": None, "be4": None}  # b stays put
    assert table("b", "c") == {"be1": "c", "be2": "b", "be3": None, "be4": None}
    assert table() == dict.fromkeys(["be1", "be2", "be3", "be4"])  # never shrinks


def test_map_entries_are_most_specific_first_and_name_the_service() -> None:
    routes = sort_routes(
        [
            route_of("root", [inst(1, route_path="/")]),
            route_of("api", [inst(2, route_path="/api", route_strip_prefix="true")]),
            route_of("twin", [inst(3, route_path="/api")]),  # loses: the first by name wins
        ]
    )
    found = RoutePool().table(routes)
    assert [value for _, value in found.entries] == ["be1:1:api", "be2:0:root"]
    assert found.strip_depth == MIN_STRIP_DEPTH
