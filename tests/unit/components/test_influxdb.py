"""InfluxDB's options, config file, statements, install choice and Kubernetes objects,
without running it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from leapfrog.components import _influxdb_install, component
from leapfrog.components._influxdb_config import quote_ident, retention_policy_statement
from leapfrog.components.base import Installation, Instance
from leapfrog.components.influxdb import InfluxDB, InfluxDBOptions, InfluxRetentionPolicyOptions
from leapfrog.components.kube import KubeContext

INSTALLATION = Installation(
    version="1.8.10",
    home=Path("/cache/influxdb/1.8.10"),
    extra={"binary": "/cache/influxdb/1.8.10/influxd", "source": "go"},
)


def where(data_dir: Path) -> Instance:
    return Instance(
        name="influxdb",
        instance="influxdb-1",
        address="127.0.0.9",
        port=8086,
        data_dir=data_dir,
        secrets_dir=data_dir / "secrets",
        cache_dir=Path("/cache"),
    )


def options(**raw: object) -> InfluxDBOptions:
    return InfluxDB().options(raw)


def test_the_registry_knows_influxdb() -> None:
    assert isinstance(component("influxdb"), InfluxDB)


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"version": "2.7.1"}, "String should match pattern"),
        ({"rpc_port": 70000}, "less than or equal to 65535"),
        ({"databases": {"m": {"retention_policies": {"a": {"duration": "7 days"}}}}}, "pattern"),
        (
            {
                "databases": {
                    "m": {
                        "retention_policies": {
                            "a": {"duration": "7d", "default": True},
                            "b": {"duration": "1d", "default": True},
                        }
                    }
                }
            },
            "only one retention policy can be the default",
        ),
        ({"flux": True}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_options_are_refused_with_a_reason(raw: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        options(**raw)


def test_http_and_rpc_listen_on_the_instance_address_with_flux_and_reporting_off(
    tmp_path: Path,
) -> None:
    process = InfluxDB().process(options(rpc_port=8099), INSTALLATION, where(tmp_path))
    conf = tomllib.loads(process.files["influxdb.conf"])
    assert conf["reporting-disabled"] is True
    assert conf["bind-address"] == "127.0.0.9:8099"
    assert conf["http"]["bind-address"] == "127.0.0.9:8086"
    assert conf["http"]["flux-enabled"] is False
    assert conf["meta"]["dir"] == str(tmp_path / "meta")
    assert conf["data"]["wal-dir"] == str(tmp_path / "wal")
    assert process.argv[3:] == (
        "/cache/influxdb/1.8.10/influxd",
        "run",
        "-config",
        str(tmp_path / "influxdb.conf"),
    )
    assert "umask 077" in process.argv[2]


def test_services_receive_the_http_url(tmp_path: Path) -> None:
    assert InfluxDB().connection_env(options(), where(tmp_path)) == {
        "INFLUXDB_URL": "http://127.0.0.9:8086"
    }


def test_statements_quote_names_and_carry_every_setting() -> None:
    policy = InfluxRetentionPolicyOptions(duration="30d", shard_duration="1d", default=True)
    assert retention_policy_statement("CREATE", 'my"db', "month", policy) == (
        'CREATE RETENTION POLICY "month" ON "my\\"db" DURATION 30d REPLICATION 1 '
        "SHARD DURATION 1d DEFAULT"
    )
    assert quote_ident("a\\b") == '"a\\\\b"'


def test_a_cached_go_build_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = tmp_path / "influxdb" / "1.8.10" / "influxd"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\necho 'InfluxDB v1.8.10 (git: unknown unknown)'\n")
    binary.chmod(0o755)
    monkeypatch.setattr(_influxdb_install, "_build", pytest.fail)
    installed = _influxdb_install.install_influxd("1.8.10", tmp_path, lambda _: None)
    assert installed.version == "1.8.10"
    assert installed.extra == {"binary": str(binary), "source": "go"}


def test_without_go_debians_package_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "usr-bin-influxd"
    debian.write_text("#!/bin/sh\necho 'InfluxDB v1.6.7~rc0 (git: unknown unknown)'\n")
    debian.chmod(0o755)
    monkeypatch.setattr(_influxdb_install, "find_go", lambda: None)
    monkeypatch.setattr(_influxdb_install, "DEBIAN_BINARY", debian)
    lines: list[str] = []
    installed = _influxdb_install.install_influxd("1.8.10", tmp_path, lines.append)
    assert installed.version == "1.6.7~rc0"
    assert installed.extra["source"] == "debian"
    assert any("Go is not installed" in line for line in lines)


def test_kubernetes_runs_the_official_image_and_a_databases_job() -> None:
    opts = options(databases={"metrics": {"retention_policies": {"week": {"duration": "7d"}}}})
    rendered = InfluxDB().render_kubernetes(opts, KubeContext(namespace="ns", stack="s"))
    kinds = {(o["kind"], o["metadata"]["name"].rsplit("-", 1)[0]) for o in rendered.objects}
    assert kinds == {
        ("ConfigMap", "influxdb"),
        ("Service", "influxdb"),
        ("StatefulSet", "influxdb"),
        ("Job", "influxdb-databases"),
    }
    sts = next(o for o in rendered.objects if o["kind"] == "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "influxdb:1.8.10"
    config = next(o for o in rendered.objects if o["kind"] == "ConfigMap")
    conf = tomllib.loads(config["data"]["influxdb.conf"])
    assert conf["http"]["bind-address"] == ":8086"
    assert conf["data"]["dir"] == "/var/lib/influxdb/data"
    job = next(o for o in rendered.objects if o["kind"] == "Job")
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert 'CREATE DATABASE "metrics"' in script
    assert 'ALTER RETENTION POLICY "week" ON "metrics" DURATION 7d' in script
    assert rendered.env == [
        {"name": "INFLUXDB_URL", "value": "http://influxdb-0.influxdb.ns.svc:8086"}
    ]
    assert yaml.safe_dump(rendered.objects)  # plain data, as written to files
