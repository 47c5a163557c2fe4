"""The store as DNS sees it: instances are read once per change, never stale."""

from __future__ import annotations

from catalog_fakes import make_store

from leapfrog.catalog._dnsview import StoreDnsView
from leapfrog.catalog._model import Check, Service


def test_instances_are_read_again_after_every_change_that_matters() -> None:
    store = make_store()
    view = StoreDnsView(store)
    store.register_service(Service("web1", "web", address="10.0.0.1", port=80), [])
    first = view.dns_instances("web", None)
    assert first is not None and [i.address for i in first] == ["10.0.0.1"]
    assert view.dns_instances("WEB", None) is first  # no change: the same list
    store.register_service(Service("web2", "web", address="10.0.0.2", port=80), [])
    found = view.dns_instances("web", None)
    assert found is not None and sorted(i.address for i in found) == ["10.0.0.1", "10.0.0.2"]
    check = Check("c2", "ttl", "passing", "web2")
    store.put_check(check, False)
    store.update_check("c2", "warning", "slow")
    found = view.dns_instances("web", None)
    assert found is not None and len(found) == 2
    store.update_check("c2", "critical", "down")
    found = view.dns_instances("web", None)
    assert found is not None and [i.address for i in found] == ["10.0.0.1"]
    store.put_check(Check("node-down", "node", "critical"), False)  # a node check
    assert view.dns_instances("web", None) == []
    store.register_service(Service("other", "other", port=1), [])
    assert view.dns_instances("web", None) == []
