"""Consul's ACL policies, roles and tokens against a real catalog process, through
py-consul and HashiCorp's Go `api` package (tools/consulapi): CRUD, enforcement that
follows a changed policy on the next request, a service identity that registers its own
service and not another, KV outside a grant refused, bad input refused 400, and
everything still there after a kill -9."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import consul
import httpx
import pytest

from leapfrog.testing import consul_tool
from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

ROOT = "acl-objects-root"


@pytest.fixture(scope="module")
def proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogProcess]:
    base = tmp_path_factory.mktemp("catalog-acl-objects")
    token_file = base / "token"
    token_file.write_text(ROOT + "\n")
    token_file.chmod(0o600)
    catalog = CatalogProcess(base / "data", "--acl-token-file", str(token_file))
    catalog.start()
    yield catalog
    if catalog.proc is not None:
        assert catalog.stop() == 0


def _http(proc: CatalogProcess, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://{proc.http_addr}", headers={"X-Consul-Token": token}, timeout=10
    )


def test_policy_token_crud_and_enforcement(proc: CatalogProcess) -> None:
    root = proc.client(token=ROOT)
    policy = root.acl.policy.create(
        "app-config-read", rules={"key_prefix": {"app/": {"policy": "read"}}}
    )
    assert policy["Name"] == "app-config-read" and policy["ID"]
    assert root.acl.policy.read(policy["ID"])["Rules"]
    names = [p["Name"] for p in root.acl.policy.list()]
    assert {"global-management", "app-config-read"} <= set(names)

    token = root.acl.token.create(description="app reader", policies_name=["app-config-read"])
    assert token["Policies"] == [{"ID": policy["ID"], "Name": "app-config-read"}]
    read = root.acl.token.read(token["AccessorID"])
    assert read["SecretID"] == token["SecretID"] and read["Description"] == "app reader"
    listed = root.acl.token.list(policy=policy["ID"])
    assert [t["AccessorID"] for t in listed] == [token["AccessorID"]]

    root.kv.put("app/greeting", "hello")
    root.kv.put("other/secret", "no")
    app = proc.client(token=token["SecretID"])
    assert app.kv.get("app/greeting")[1]["Value"] == b"hello"
    with pytest.raises(consul.ACLPermissionDenied, match="key:read"):
        app.kv.get("other/secret")
    with pytest.raises(consul.ACLPermissionDenied, match="key:write"):
        app.kv.put("app/greeting", "changed")
    # The token may not manage ACL: its rules do not say acl = "write".
    with pytest.raises(consul.ACLPermissionDenied):
        app.acl.policy.list()

    # A changed policy governs the very next request.
    root.acl.policy.update(
        policy["ID"], "app-config-read", rules={"key_prefix": {"app/": {"policy": "write"}}}
    )
    assert app.kv.put("app/greeting", "changed") is True

    root.acl.token.delete(token["AccessorID"])
    with pytest.raises(consul.ACLPermissionDenied, match="ACL not found"):
        app.kv.get("app/greeting")
    root.acl.policy.delete(policy["ID"])
    with pytest.raises(consul.ACLPermissionDenied, match="ACL not found"):
        root.acl.policy.read(policy["ID"])


def test_service_identity_registers_itself_not_another(proc: CatalogProcess) -> None:
    root = proc.client(token=ROOT)
    token = root.acl.token.create(description="web-1", service_identities=[{"ServiceName": "web"}])
    web = proc.client(token=token["SecretID"])
    assert web.agent.service.register("web", service_id="web-1", port=8080) is True
    with pytest.raises(consul.ACLPermissionDenied) as refused:
        web.agent.service.register("billing", service_id="billing-1", port=9090)
    assert str(refused.value).count(
        f"Permission denied: token with AccessorID '{token['AccessorID']}' lacks permission "
        "'service:write' on \"billing\""
    )
    # It reads the catalog (every service and node) but no KV.
    assert "web" in web.catalog.services()[1]
    with pytest.raises(consul.ACLPermissionDenied):
        web.kv.get("app/greeting")
    me = web.acl.token.read_self()
    assert me["ServiceIdentities"] == [{"ServiceName": "web"}]
    # A token with acl:write sees secrets in listings (others see "<hidden>").
    assert root.acl.token.list(servicename="web")[0]["SecretID"] == token["SecretID"]


def test_roles_link_policies(proc: CatalogProcess) -> None:
    root = proc.client(token=ROOT)
    policy = root.acl.policy.create("ops-read", rules={"operator": "read"})
    role = root.acl.role.create("ops", policies_name=["ops-read"])
    assert role["Policies"] == [{"ID": policy["ID"], "Name": "ops-read"}]
    assert root.acl.role.read_by_name("ops")["ID"] == role["ID"]
    token = root.acl.token.create(roles_name=["ops"])
    assert token["Roles"] == [{"ID": role["ID"], "Name": "ops"}]
    assert [r["Name"] for r in root.acl.role.list(policy=policy["ID"])] == ["ops"]


def test_bad_input_is_400_with_the_reason(proc: CatalogProcess) -> None:
    with _http(proc, ROOT) as http:
        bad_rules = http.put(
            "/v1/acl/policy", json={"Name": "broken", "Rules": 'service "web" { policy = '}
        )
        assert bad_rules.status_code == 400 and "Failed to parse" in bad_rules.text
        bad_level = http.put(
            "/v1/acl/policy",
            json={"Name": "broken", "Rules": 'service "web" { policy = "admin" }'},
        )
        assert bad_level.status_code == 400 and "'read', 'write' or 'deny'" in bad_level.text
        unknown = http.put("/v1/acl/token", json={"Policies": [{"Name": "no-such-policy"}]})
        assert unknown.status_code == 400
        assert "A Policy with Name 'no-such-policy' does not exist" in unknown.text
        bad_name = http.put("/v1/acl/policy", json={"Name": "has spaces"})
        assert bad_name.status_code == 400 and "invalid Name" in bad_name.text
        not_json = http.put("/v1/acl/token", content=b"{not json")
        assert not_json.status_code == 400 and "Token decoding failed" in not_json.text
        builtin = http.delete("/v1/acl/policy/00000000-0000-0000-0000-000000000001")
        assert builtin.status_code == 400


def test_objects_survive_kill_9(proc: CatalogProcess) -> None:
    root = proc.client(token=ROOT)
    policy = root.acl.policy.create("survivor", rules={"key": {"keep/me": {"policy": "read"}}})
    token = root.acl.token.create(description="survivor", policies_id=[policy["ID"]])
    root.kv.put("keep/me", "kept")
    assert proc.stop(signal.SIGKILL) == -signal.SIGKILL
    proc.start()
    root = proc.client(token=ROOT)
    assert root.acl.policy.read(policy["ID"])["Name"] == "survivor"
    again = root.acl.token.read(token["AccessorID"])
    assert again["SecretID"] == token["SecretID"]
    assert proc.client(token=token["SecretID"]).kv.get("keep/me")[1]["Value"] == b"kept"
    # The journal that holds the secrets is the owner's only.
    for path in Path(proc.data_dir).iterdir():
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_hashicorps_go_client_makes_and_uses_acl_objects(proc: CatalogProcess) -> None:
    """tools/consulapi `acl`: HashiCorp's Go `api` package creates a policy (HCL rules), a
    role and a token, reads and lists them, then uses the token: its grant works, and
    what it lacks is refused with Consul's 403 text."""
    argv = [str(consul_tool("consulapi")), "-addr", proc.http_addr, "-token", ROOT]
    done = subprocess.run(
        [*argv, "acl", "-prefix", "goacl/", "-service", "goapp"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads(done.stdout)["results"]
    policy = results["policy_create"]
    assert policy["Name"] == "consulapi-reader" and 'key_prefix "goacl/"' in policy["Rules"]
    assert results["policy_read_by_name"]["ID"] == policy["ID"]
    assert "consulapi-reader" in [p["Name"] for p in results["policy_list"]]
    assert results["role_create"]["Policies"] == [{"ID": policy["ID"], "Name": "consulapi-reader"}]
    token = results["token_create"]
    assert token["ServiceIdentities"] == [{"ServiceName": "goapp"}]
    assert results["token_read"]["SecretID"] == token["SecretID"]
    assert [t["AccessorID"] for t in results["token_list_by_policy"]] == [token["AccessorID"]]
    assert results["token_self"]["AccessorID"] == token["AccessorID"]
    assert results["token_kv_get"]["Value"] == "aGk="  # "hi", as Go encodes []byte
    assert results["token_register_own"] is True
    denied = results["denied"]
    assert "403" in denied["register_other"] and "service:write" in denied["register_other"]
    assert "403" in denied["kv_put"] and "key:write" in denied["kv_put"]
    assert "403" in denied["policy_list"] and "acl:read" in denied["policy_list"]
