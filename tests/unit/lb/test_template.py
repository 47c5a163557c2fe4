from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from leapfrog.lb import (
    DEFAULT_TEMPLATES,
    ServiceInstance,
    ServiceName,
    Template,
    map_files,
    runtime_change,
)
from leapfrog.shared.errors import LeapfrogError

from ._fake import FakeWatcher

CONTEXT = {
    "lb": {
        "listen": "127.0.0.1:8080",
        "stats": "127.0.0.1:8404",
        "run_dir": "/run/lb",
        "admin_socket": "/run/lb/admin.sock",
        "log_socket": "/run/lb/log.sock",
        "haproxy_log_format": "x",
        "engine": "haproxy",
        "user": "",
        "access_log": True,
        "threads": 1,
    }
}


def inst(name: str, port: int, status: str = "passing", **meta: str) -> ServiceInstance:
    return ServiceInstance(f"{name}-{port}", name, "127.0.0.1", port, meta=meta, status=status)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "in.tmpl"
    path.write_text(text)
    return path


def render(source: Path, data: dict[Any, Any], context: dict[str, Any] | None = None) -> Any:
    return Template(source, context).render(FakeWatcher(data))  # type: ignore[arg-type]


def test_functions_read_the_catalog(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        "{% for s in service('web', tag='v2') %}{{ s.address }}:{{ s.port }} {% endfor %}"
        "|{{ key('cfg/limit') }}|{% for p in keys('cfg') %}{{ p.key }}={{ p.value }};{% endfor %}",
    )
    from leapfrog.lb import KeyPair

    data = {
        ("service", "web", "v2", "passing"): [inst("web", 1), inst("web", 2)],
        ("key", "cfg/limit"): "10",
        ("keys", "cfg"): [KeyPair("cfg/limit", "limit", "10")],
    }
    rendered = render(source, data)
    assert rendered.complete
    assert rendered.text == "127.0.0.1:1 127.0.0.1:2 |10|limit=10;"
    assert rendered.deps == set(data)


def test_a_first_render_is_incomplete_until_every_answer_is_in(tmp_path: Path) -> None:
    source = write(tmp_path, "{% for s in service('missing') %}x{% endfor %}[{{ key('k') }}]")
    rendered = render(source, {})
    assert not rendered.complete
    assert rendered.text == "[]"


def test_a_missing_service_renders_an_empty_backend(tmp_path: Path) -> None:
    source = write(tmp_path, "n={{ service('gone') | length }}")
    rendered = render(source, {("service", "gone", "", "passing"): []})
    assert rendered.complete
    assert rendered.text == "n=0"


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    source = write(tmp_path, "line one\n{% for x in services() %}\nno end\n")
    with pytest.raises(LeapfrogError) as caught:
        Template(source)
    assert f"{source}:" in str(caught.value)
    assert "syntax error" in str(caught.value)


def test_a_runtime_error_names_the_file_and_line(tmp_path: Path) -> None:
    source = write(tmp_path, "ok\nok\n{{ nothing.here }}\n")
    with pytest.raises(LeapfrogError) as caught:
        render(source, {})
    assert f"{source}:3" in str(caught.value)


def test_a_missing_template_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LeapfrogError, match="cannot read the template"):
        Template(tmp_path / "absent.tmpl")


def catalog(*services: tuple[str, list[ServiceInstance]]) -> dict[Any, Any]:
    data: dict[Any, Any] = {("services",): [ServiceName(n) for n, _ in services]}
    for name, found in services:
        data[("service", name, "", "any")] = found
    return data


def test_default_haproxy_template_routes_by_meta(tmp_path: Path) -> None:
    data = catalog(
        ("consul", [inst("consul", 8300)]),
        (
            "hello",
            [
                inst("hello", 9001, route_path="/hello", route_strip_prefix="true"),
                inst("hello", 9002, status="critical", route_path="/hello"),
            ],
        ),
        ("site", [inst("site", 9100, route_host="*.example.com")]),
        ("kafka", [inst("kafka", 9092)]),
        ("home", [inst("home", 9200, route_path="/")]),
        ("events", [inst("events", 9300, route_path="/events/")]),
    )
    rendered = render(DEFAULT_TEMPLATES / "haproxy.cfg.j2", data, CONTEXT)
    text = rendered.text
    assert rendered.complete
    assert "backend consul" not in text
    # Routes are map entries, most specific first: host, then the longest path, then "/".
    routes = map_files(text)["routes.map"]
    backend = {value.split(":")[2]: value.split(":")[0] for _, value in routes}
    assert routes == (
        (r"^kafka\.service\.localhost/", f"{backend['kafka']}:0:kafka"),
        (r"^[^/]+\.example\.com/", f"{backend['site']}:0:site"),
        # /events/ takes /events/... only: /events itself falls to the catch-all.
        (r"^[^/]*/events/", f"{backend['events']}:0:events"),
        (r"^[^/]*/hello(\?|/)", f"{backend['hello']}:1:hello"),  # strip one segment
        (r"^[^/]*/", f"{backend['home']}:0:home"),
    )
    assert "#@map routes.map ^[^/]*/ " in text  # the catch-all is last
    # The pool: one backend per service and free ones, whatever their routes.
    assert sorted(backend.values()) == ["be1", "be2", "be3", "be4", "be5"]
    assert "backend be16\n" in text and "backend be17\n" not in text
    hello = text.split(f"\nbackend {backend['hello']}\n", 1)[1].split("\nbackend", 1)[0]
    # Only the passing instance is served; the other slots wait, disabled.
    assert "server s1 127.0.0.1:9001 check" in hello
    assert hello.count("disabled") == 3


def test_a_new_service_changes_only_servers_and_the_route_map() -> None:
    hello = ("hello", [inst("hello", 9001, route_path="/hello")])
    template = Template(DEFAULT_TEMPLATES / "haproxy.cfg.j2", CONTEXT)
    before = template.render(FakeWatcher(catalog(hello))).text  # type: ignore[arg-type]
    added = ("new", [inst("new", 9500, route_path="/new", route_strip_prefix="true")])
    after = template.render(FakeWatcher(catalog(hello, added))).text  # type: ignore[arg-type]
    change = runtime_change(before, after)
    assert change is not None, "a new service needed a reload"
    assert change.servers == [
        "set server be2/s1 addr 127.0.0.1 port 9500",
        "set server be2/s1 state ready",
    ]
    assert change.maps == {
        "routes.map": (
            (r"^[^/]*/hello(\?|/)", "be1:0:hello"),
            (r"^[^/]*/new(\?|/)", "be2:1:new"),
        )
    }


def test_default_nginx_template_routes_by_meta(tmp_path: Path) -> None:
    data = catalog(
        ("hello", [inst("hello", 9001, route_path="/hello", route_strip_prefix="true")]),
        ("empty", []),
        ("events", [inst("events", 9300, route_path="/events/")]),
    )
    context = {"lb": {**CONTEXT["lb"], "engine": "nginx"}}
    text = render(DEFAULT_TEMPLATES / "nginx.conf.j2", data, context).text
    assert "location ^~ /hello/ { proxy_pass http://hello/; }" in text
    assert "location = /hello { proxy_pass http://hello/; }" in text
    assert "location ^~ /events/ { proxy_pass http://events; }" in text
    assert "location = /events" not in text
    assert "server 127.0.0.1:9001 max_fails=1 fail_timeout=2s;" in text
    # An upstream with nobody passing still parses: one server marked down.
    assert "server 127.0.0.1:1 down;" in text.split("upstream empty", 1)[1]
    assert "server_name empty.service.localhost;" in text


def _backend_of(text: str, service: str) -> str:
    routes = map_files(text)["routes.map"]
    name = next(v.split(":")[0] for _, v in routes if v.endswith(f":{service}"))
    return text.split(f"\nbackend {name}\n", 1)[1].split("\nbackend", 1)[0]


def test_a_service_with_no_passing_instance_keeps_its_instances_not_in_maintenance() -> None:
    # web-1's check timed out under load while web-2 is leaving (maintenance): web-1 is
    # still sent requests (panic routing), web-2 never is, and the route stays.
    template = Template(DEFAULT_TEMPLATES / "haproxy.cfg.j2", CONTEXT)
    web = [
        inst("web", 9001, status="critical", route_path="/web"),
        inst("web", 9002, status="maintenance", route_path="/web"),
    ]
    text = template.render(FakeWatcher(catalog(("web", web)))).text  # type: ignore[arg-type]
    backend = _backend_of(text, "web")
    assert "server s1 127.0.0.1:9001 check\n" in backend + "\n"
    assert "9002" not in backend
    # One passing instance: only it is served, the critical one waits.
    web[1] = inst("web", 9002, route_path="/web")
    text = template.render(FakeWatcher(catalog(("web", web)))).text  # type: ignore[arg-type]
    backend = _backend_of(text, "web")
    assert "127.0.0.1:9002 check\n" in backend + "\n"
    assert "9001" not in backend
    # Everyone in maintenance (scaled to 0): the route stays, its backend is empty (503).
    gone = [inst("web", 9001, status="maintenance", route_path="/web")]
    text = template.render(FakeWatcher(catalog(("web", gone)))).text  # type: ignore[arg-type]
    assert _backend_of(text, "web").count("disabled") == 4


def test_maintenance_is_told_from_a_failing_check_by_its_check_id() -> None:
    from leapfrog.lb._data import instances

    def entry(sid: str, *checks: tuple[str, str]) -> dict[str, Any]:
        return {
            "Service": {"ID": sid, "Service": "web", "Address": "127.0.0.1", "Port": 1},
            "Node": {"Node": "n"},
            "Checks": [{"CheckID": c, "Status": s} for c, s in checks],
        }

    found = instances(
        [
            entry("a", ("service:a", "passing")),
            entry("b", ("service:b", "critical")),
            entry("c", ("service:c", "passing"), ("_service_maintenance:c", "critical")),
            entry("d", ("_node_maintenance", "critical"), ("service:d", "passing")),
            entry("e", ("service:e", "warning")),
        ]
    )
    assert {i.id: i.status for i in found} == {
        "a": "passing",
        "b": "critical",
        "c": "maintenance",
        "d": "maintenance",
        "e": "warning",
    }
