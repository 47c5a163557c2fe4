"""The default HAProxy and nginx templates with service identity on: backends whose
instances serve mutual TLS get the lb's certificate and the roots; a rotated leaf is a
new file."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from leapfrog.lb import DEFAULT_TEMPLATES, ServiceInstance, ServiceName, Template, runtime_change
from leapfrog.lb._data import CaLeaf

from ._fake import FakeWatcher
from .test_template import CONTEXT

ROOTS = "-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n"


def leaf(serial: str) -> CaLeaf:
    return CaLeaf("lb", serial, f"CERT {serial}\n", f"KEY {serial}\n")


def data(serial: str, *, plain_service: bool = True) -> dict[Any, Any]:
    mesh = ServiceInstance(
        "api-1", "api", "127.0.0.5", 8000, meta={"mtls": "true", "route_path": "/api"}
    )
    plain = ServiceInstance("kafka-1", "kafka", "127.0.0.6", 9092, meta={"route_path": "/k"})
    found: dict[Any, Any] = {
        ("services",): [ServiceName("api"), *([ServiceName("kafka")] if plain_service else [])],
        ("service", "api", "", "any"): [mesh],
        ("ca_leaf", "lb"): leaf(serial),
        ("ca_roots",): ROOTS,
    }
    if plain_service:
        found[("service", "kafka", "", "any")] = [plain]
    return found


def backend_of(text: str, address: str) -> str:
    return next(b for b in text.split("\nbackend ") if address in b)


def test_mtls_backends_get_the_lbs_certificate_and_others_do_not(tmp_path: Path) -> None:
    context = {"lb": {**CONTEXT["lb"], "identity": "lb"}}
    template = Template(DEFAULT_TEMPLATES / "haproxy.cfg.j2", context, files_dir=tmp_path)
    rendered = template.render(FakeWatcher(data("0a:01")))  # type: ignore[arg-type]
    assert rendered.complete
    mesh = tmp_path / "mesh"
    crt, ca = mesh / "lb-0a01.pem", next(mesh.glob("roots-*.pem"))
    api = backend_of(rendered.text, "127.0.0.5:8000")
    tls = f"ssl crt {crt} ca-file {ca} verify required"
    assert f"server s1 127.0.0.5:8000 check {tls}" in api
    assert f"check {tls} disabled" in api  # free slots alike: the runtime API still works
    assert "ssl" not in backend_of(rendered.text, "127.0.0.6:9092")
    assert crt.read_text() == "CERT 0a:01\nKEY 0a:01\n"
    assert stat.S_IMODE(crt.stat().st_mode) == 0o600
    assert stat.S_IMODE(mesh.stat().st_mode) == 0o700

    # Rotation: a new serial is a new file (a reload loads it); the old one goes.
    rotated = template.render(FakeWatcher(data("0a:02")))  # type: ignore[arg-type]
    assert f"ssl crt {mesh / 'lb-0a02.pem'}" in rotated.text
    assert sorted(p.name for p in mesh.iterdir()) == ["lb-0a02.pem", ca.name]
    assert runtime_change(rendered.text, rotated.text) is None


def test_identity_off_reads_no_certificate(tmp_path: Path) -> None:
    template = Template(DEFAULT_TEMPLATES / "haproxy.cfg.j2", CONTEXT, files_dir=tmp_path)
    rendered = template.render(FakeWatcher(data("0a:01")))  # type: ignore[arg-type]
    assert " ssl " not in rendered.text
    assert ("ca_leaf", "lb") not in rendered.deps
    assert not (tmp_path / "mesh").exists()


def test_until_the_leaf_is_in_the_render_is_incomplete(tmp_path: Path) -> None:
    context = {"lb": {**CONTEXT["lb"], "identity": "lb"}}
    template = Template(DEFAULT_TEMPLATES / "haproxy.cfg.j2", context, files_dir=tmp_path)
    found = data("0a:01")
    del found[("ca_leaf", "lb")]
    rendered = template.render(FakeWatcher(found))  # type: ignore[arg-type]
    assert not rendered.complete


NGINX = {"lb": {**CONTEXT["lb"], "engine": "nginx", "identity": "lb"}}


def test_nginx_presents_the_lbs_certificate_to_mtls_services_only(tmp_path: Path) -> None:
    template = Template(DEFAULT_TEMPLATES / "nginx.conf.j2", NGINX, files_dir=tmp_path)
    rendered = template.render(FakeWatcher(data("0a:01")))  # type: ignore[arg-type]
    assert rendered.complete
    text = rendered.text
    mesh = tmp_path / "mesh"
    crt, ca = mesh / "lb-0a01.pem", next(mesh.glob("roots-*.pem"))
    assert f"proxy_ssl_certificate {crt};" in text
    assert f"proxy_ssl_certificate_key {crt};" in text
    assert f"proxy_ssl_trusted_certificate {ca};" in text
    assert "proxy_ssl_verify on;" in text
    assert "proxy_ssl_server_name on;" in text
    # The mTLS service over https, checked to be `api`; the plain one over http.
    assert "location ^~ /api/ { proxy_pass https://api; proxy_ssl_name api; }" in text
    assert "location = /api { proxy_pass https://api; proxy_ssl_name api; }" in text
    assert "location ^~ /k/ { proxy_pass http://kafka; }" in text
    assert stat.S_IMODE(crt.stat().st_mode) == 0o600

    # Rotation: a new file name in the configuration (a reload loads it), the old goes.
    rotated = template.render(FakeWatcher(data("0a:02"))).text  # type: ignore[arg-type]
    assert f"proxy_ssl_certificate {mesh / 'lb-0a02.pem'};" in rotated
    assert sorted(p.name for p in mesh.iterdir()) == ["lb-0a02.pem", ca.name]


def test_nginx_without_identity_has_no_tls(tmp_path: Path) -> None:
    context = {"lb": {**CONTEXT["lb"], "engine": "nginx"}}
    template = Template(DEFAULT_TEMPLATES / "nginx.conf.j2", context, files_dir=tmp_path)
    rendered = template.render(FakeWatcher(data("0a:01")))  # type: ignore[arg-type]
    assert "proxy_ssl" not in rendered.text and "https://" not in rendered.text
    assert ("ca_leaf", "lb") not in rendered.deps


def rolling(*, passing_plain: bool = True) -> dict[Any, Any]:
    """`api` halfway through identity turned on or off: one instance serving mutual TLS,
    one plain."""
    old = ServiceInstance(
        "api-1", "api", "127.0.0.5", 8000, meta={"mtls": "true", "route_path": "/api"}
    )
    new = ServiceInstance(
        "api-2",
        "api",
        "127.0.0.7",
        8000,
        meta={"route_path": "/api"},
        status="passing" if passing_plain else "critical",
    )
    return {
        ("services",): [ServiceName("api")],
        ("service", "api", "", "any"): [old, new],
        ("ca_leaf", "lb"): leaf("0a:01"),
        ("ca_roots",): ROOTS,
    }


def test_with_a_certificate_haproxy_speaks_each_instances_protocol(tmp_path: Path) -> None:
    context = {"lb": {**CONTEXT["lb"], "identity": "lb"}}
    template = Template(DEFAULT_TEMPLATES / "haproxy.cfg.j2", context, files_dir=tmp_path)
    text = template.render(FakeWatcher(rolling())).text  # type: ignore[arg-type]
    lines = [line.strip() for line in backend_of(text, "127.0.0.5").splitlines()]
    tls = next(line for line in lines if "127.0.0.5:8000" in line)
    plain = next(line for line in lines if "127.0.0.7:8000" in line)
    assert " ssl crt " in tls and " verify required" in tls
    assert plain.endswith("127.0.0.7:8000 check")


def test_without_a_certificate_haproxy_leaves_out_instances_serving_tls(tmp_path: Path) -> None:
    template = Template(DEFAULT_TEMPLATES / "haproxy.cfg.j2", CONTEXT, files_dir=tmp_path)
    text = template.render(FakeWatcher(rolling())).text  # type: ignore[arg-type]
    assert "127.0.0.7:8000 check" in text and "127.0.0.5" not in text
    # The plain instance not passing yet: it is still the one to try (retried), not the
    # one that would answer junk; with no plain instance at all, the TLS one stays.
    starting = template.render(FakeWatcher(rolling(passing_plain=False))).text  # type: ignore[arg-type]
    assert "127.0.0.7:8000 check" in starting and "127.0.0.5" not in starting
    alone = rolling()
    alone[("service", "api", "", "any")] = alone[("service", "api", "", "any")][:1]
    assert "127.0.0.5:8000" in template.render(FakeWatcher(alone)).text  # type: ignore[arg-type]


def test_nginx_with_a_certificate_sends_to_the_instances_serving_tls(tmp_path: Path) -> None:
    template = Template(DEFAULT_TEMPLATES / "nginx.conf.j2", NGINX, files_dir=tmp_path)
    text = template.render(FakeWatcher(rolling())).text  # type: ignore[arg-type]
    assert "server 127.0.0.5:8000" in text and "127.0.0.7" not in text
    assert "proxy_pass https://api;" in text
    plain = {"lb": {**CONTEXT["lb"], "engine": "nginx"}}
    template = Template(DEFAULT_TEMPLATES / "nginx.conf.j2", plain, files_dir=tmp_path)
    text = template.render(FakeWatcher(rolling())).text  # type: ignore[arg-type]
    assert "server 127.0.0.7:8000" in text and "127.0.0.5" not in text
    assert "proxy_pass http://api;" in text
