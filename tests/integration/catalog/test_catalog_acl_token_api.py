"""py-consul's acl.token.read_self against the real server, ACL on and off."""

from __future__ import annotations

import consul
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_read_self_with_the_management_token(acl_proc: CatalogProcess) -> None:
    token = acl_proc.client(token="management-secret").acl.token.read_self()
    assert token["SecretID"] == "management-secret"
    assert [p["Name"] for p in token["Policies"]] == ["global-management"]
    with pytest.raises(consul.ACLPermissionDenied, match="ACL not found"):
        acl_proc.client(token="not-the-secret").acl.token.read_self()


def test_read_self_with_acl_disabled(c: consul.Consul) -> None:
    with pytest.raises(consul.ACLDisabled, match="ACL support disabled"):
        c.acl.token.read_self()
