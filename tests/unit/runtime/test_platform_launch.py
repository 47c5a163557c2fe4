"""The platform's own units in launches: the catalog first, components through their
contract, and what services receive from both."""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import leapfrog.components as registry
from leapfrog.plan import build_plan
from leapfrog.runtime.local.launch import Launch, build_launches
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.platform import prune_instance_tokens
from leapfrog.spec import parse_stack


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fakedb(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(registry._MODULES, "fakedb", "tests.unit.runtime._fake_component:FakeDb")
    registry.component.cache_clear()
    yield
    registry.component.cache_clear()


def launches(tmp_path: Path, text: str) -> tuple[dict[str, list[Launch]], StatePaths]:
    stack = parse_stack(text, "leapfrog.yaml", tmp_path)
    paths = StatePaths(stack.state_dir)
    paths.create()
    return build_launches(stack, build_plan(stack), paths), paths


def test_catalog_runs_leapfrogs_own_server_on_its_configured_address(tmp_path: Path) -> None:
    result, paths = launches(
        tmp_path,
        "catalog: {http: '127.0.0.1:18500', dns: '127.0.0.1:18600', datacenter: east}\n"
        "services:\n  web: {command: serve}\n",
    )
    (catalog,) = result["catalog"]
    assert catalog.kind == "catalog" and catalog.user is None
    assert (catalog.address, catalog.port) == ("127.0.0.1", 18500)
    argv = list(catalog.argv)
    assert argv[1:5] == ["-m", "leapfrog", "catalog", "serve"]
    assert argv[argv.index("--dns") + 1] == "127.0.0.1:18600"
    assert argv[argv.index("--datacenter") + 1] == "east"
    assert argv[argv.index("--acl-token-file") + 1] == str(paths.catalog_token)
    assert argv[argv.index("--acl-tokens-file") + 1] == str(paths.catalog_tokens)
    assert "--anonymous-read" not in argv  # Consul's default-deny unless the stack opts in
    assert catalog.check is not None and catalog.check.http == "/v1/status/leader"


def test_each_service_instance_gets_its_own_token_kept_private(tmp_path: Path) -> None:
    text = (
        "services:\n  web: {command: serve, replicas: 2, kv: [app/web/], kv_write: [app/lock/]}\n"
        "  api: {command: x}\n"
    )
    result, paths = launches(tmp_path, text)
    web1, web2 = result["web"]
    management = paths.catalog_token.read_text().strip()
    tokens = json.loads(paths.catalog_tokens.read_text())["tokens"]
    token = tokens["instance:web-1"]["SecretID"]
    assert web1.env["CONSUL_HTTP_ADDR"] == "127.0.0.1:8500"
    assert web1.env["CONSUL_HTTP_TOKEN"] == token and len(token) == 36
    assert web2.env["CONSUL_HTTP_TOKEN"] == tokens["instance:web-2"]["SecretID"] != token
    assert result["api"][0].env["CONSUL_HTTP_TOKEN"] == tokens["instance:api-1"]["SecretID"]
    assert token != management  # the management token stays with the supervisor
    # Consul's service identity of its own service, and read on its stack file's kv grant.
    assert tokens["instance:web-1"]["ServiceIdentities"] == [{"ServiceName": "web"}]
    assert tokens["instance:web-1"]["Rules"] == {
        "key_prefix": {"app/web/": {"policy": "read"}, "app/lock/": {"policy": "write"}}
    }
    assert tokens["instance:api-1"]["Rules"] == {}
    assert "services" not in tokens  # no shared token that may register any service
    assert tokens["dns"]["Rules"] == {
        "service_prefix": {"": {"policy": "read"}},
        "node_prefix": {"": {"policy": "read"}},
    }
    assert len({management, *(t["SecretID"] for t in tokens.values())}) == 6
    for path in (paths.catalog_token, paths.catalog_tokens):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, _ = launches(tmp_path, text)
    assert again["web"][0].env["CONSUL_HTTP_TOKEN"] == token  # kept across runs
    assert again["web"][0].config_hash == web1.config_hash
    # Fewer instances in the stack file: the others keep their tokens while the stack runs
    # (a rollout's surge instance, one scaled up), until a fresh start prunes them.
    launches(tmp_path, "services:\n  web: {command: serve}\n")
    tokens = json.loads(paths.catalog_tokens.read_text())["tokens"]
    assert sorted(k for k in tokens if k.startswith("instance:")) == [
        "instance:api-1",
        "instance:web-1",
        "instance:web-2",
    ]
    prune_instance_tokens(paths, ["web-1"])
    tokens = json.loads(paths.catalog_tokens.read_text())["tokens"]
    assert sorted(k for k in tokens if k.startswith("instance:")) == ["instance:web-1"]
    assert paths.catalog_tokens.stat().st_mode & 0o777 == 0o600


def test_anonymous_read_is_an_explicit_opt_in(tmp_path: Path) -> None:
    text = "catalog: {anonymous_read: true}\nservices:\n  web: {command: x}\n"
    result, _ = launches(tmp_path, text)
    assert "--anonymous-read" in result["catalog"][0].argv


def test_without_acl_there_is_no_token(tmp_path: Path) -> None:
    result, paths = launches(tmp_path, "catalog: {acl: false}\nservices:\n  web: {command: x}\n")
    assert "CONSUL_HTTP_TOKEN" not in result["web"][0].env
    argv = result["catalog"][0].argv
    assert "--acl-token-file" not in argv and argv[argv.index("--acl") + 1] == "off"
    assert not paths.catalog_token.exists() and not paths.catalog_tokens.exists()


def test_a_disabled_catalog_is_not_run_and_not_announced(tmp_path: Path) -> None:
    result, _ = launches(tmp_path, "catalog: {enabled: false}\nservices:\n  web: {command: x}\n")
    assert "catalog" not in result
    assert "CONSUL_HTTP_ADDR" not in result["web"][0].env


def test_component_runs_what_its_contract_says(tmp_path: Path, fakedb: Any) -> None:
    result, paths = launches(
        tmp_path, "components:\n  fakedb: {database: orders}\nservices:\n  web: {command: x}\n"
    )
    (db,) = result["fakedb"]
    assert db.kind == "component" and db.component is not None
    assert db.argv == ("fakedb", "--listen", f"{db.address}:7000")
    assert db.env["FAKEDB_HOME"].endswith("fakedb")
    assert (db.stop_signal, db.stop_grace_period) == ("SIGINT", 7.0)
    assert db.component.process.files == {"fake.conf": "cache_mb=64\n"}
    assert db.component.version == "1.2.3"
    assert db.data_dir == paths.instance_data("fakedb-1")
    (web,) = result["web"]
    assert web.env["FAKEDB_URL"] == f"fake://{db.address}:7000/orders"
    assert "FAKEDB_URL" not in db.env


def test_install_goes_through_the_given_installer(tmp_path: Path, fakedb: Any) -> None:
    stack = parse_stack("components:\n  fakedb: {}\n", "leapfrog.yaml", tmp_path)
    paths = StatePaths(stack.state_dir)
    paths.create()
    seen: list[str] = []

    def installer(kind: str, comp: Any, options: Any) -> Any:
        seen.append(kind)
        return comp.install(options, tmp_path, seen.append)

    build_launches(stack, build_plan(stack), paths, installer)
    assert seen == ["fakedb", "nothing to download"]


def test_changed_component_options_set_up_again_without_a_restart(
    tmp_path: Path, fakedb: Any
) -> None:
    from leapfrog.runtime.local.reconcile import diff

    before, _ = launches(tmp_path, "components:\n  fakedb: {database: orders}\n")
    after, _ = launches(tmp_path, "components:\n  fakedb: {database: invoices}\n")
    same, _ = launches(tmp_path, "components:\n  fakedb: {database: orders}\n")
    flat = lambda result: {x.name: x for group in result.values() for x in group}  # noqa: E731
    changes = diff(flat(before), flat(after))
    assert changes.reconfigure == ["fakedb-1"] and changes.replace == []
    assert diff(flat(before), flat(same)).reconfigure == []


def test_changed_component_files_mean_a_new_process(tmp_path: Path, fakedb: Any) -> None:
    from leapfrog.runtime.local.reconcile import diff

    before, _ = launches(tmp_path, "components:\n  fakedb: {cache_mb: 64}\n")
    after, _ = launches(tmp_path, "components:\n  fakedb: {cache_mb: 128}\n")
    changes = diff(
        {x.name: x for group in before.values() for x in group},
        {x.name: x for group in after.values() for x in group},
    )
    assert changes.replace == ["fakedb-1"]


def test_the_console_reads_the_stack_state_and_the_catalog_ui_leads_to_it(
    tmp_path: Path,
) -> None:
    result, paths = launches(
        tmp_path,
        "components:\n  console: {listen: '127.0.0.1:18900'}\nservices:\n  web: {command: serve}\n",
    )
    (console,) = result["console"]
    assert console.user is None  # the supervisor's user: it reads the control socket
    assert console.env["LEAPFROG_STATE_DIR"] == str(paths.root)
    assert console.env["LEAPFROG_CONTROL_SOCKET"] == str(paths.control_socket)
    assert console.env["CONSUL_HTTP_ADDR"] == "127.0.0.1:8500"
    assert list(console.argv[1:5]) == ["-m", "leapfrog", "console", "serve"]
    argv = list(result["catalog"][0].argv)
    assert argv[argv.index("--ui") + 1] == "http://127.0.0.1:18900/"
    (web,) = result["web"]
    assert web.env["LEAPFROG_CONSOLE_URL"] == "http://127.0.0.1:18900"
    assert "LEAPFROG_CONTROL_SOCKET" not in web.env


def test_without_a_console_the_catalog_has_no_ui(tmp_path: Path) -> None:
    result, _ = launches(tmp_path, "services:\n  web: {command: serve}\n")
    assert "--ui" not in result["catalog"][0].argv


def test_turning_identity_on_or_off_is_told_apart_from_other_changes(tmp_path: Path) -> None:
    from leapfrog.runtime.local.reconcile import identity_turned

    def every(identity: bool) -> list[Launch]:
        text = (
            "catalog: {http: '127.0.0.1:18500', dns: '127.0.0.1:18600'}\n"
            + ("identity: {mtls: true}\n" if identity else "")
            + "services:\n  web: {command: serve, port: 8080}\n"
        )
        found, _ = launches(tmp_path, text)
        return [launch for group in found.values() for launch in group]

    plain, mesh = every(False), every(True)
    assert identity_turned(plain, mesh) == "on"
    assert identity_turned(mesh, plain) == "off"
    assert identity_turned(mesh, mesh) == "" and identity_turned(plain, plain) == ""
