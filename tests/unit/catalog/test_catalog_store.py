"""The store: per-topic indexes, check status vs. output, reaping, KV and CAS."""

from __future__ import annotations

import asyncio

from catalog_fakes import Clock, FakeChecker, make_store

from leapfrog.catalog._index import SERVICES, service_topic
from leapfrog.catalog._model import Check, Service
from leapfrog.catalog.checks.api import CheckDefinition


def ttl_check(check_id: str, service_id: str, deregister_after: float = 0.0) -> Check:
    definition = CheckDefinition(check_id=check_id, kind="ttl", ttl=10.0)
    return Check(
        check_id,
        "c",
        "critical",
        service_id,
        definition=definition,
        deregister_after=deregister_after,
    )


def test_a_change_bumps_only_its_own_service_index() -> None:
    store = make_store()
    store.register_service(Service("web1", "web"), [])
    web = store.log.of(service_topic("web"))
    store.register_service(Service("db1", "db"), [])
    assert store.log.of(service_topic("web")) == web
    assert store.log.of(service_topic("db")) > web
    assert store.log.of(SERVICES) == store.log.index


def test_deregistration_raises_the_index_it_never_goes_back() -> None:
    store = make_store()
    store.register_service(Service("web1", "web"), [])
    before = store.log.of(service_topic("WEB"))
    assert store.deregister_service("web1")
    assert store.instances("web") == []
    assert store.log.of(service_topic("web")) > before


def test_identical_reregistration_keeps_the_index() -> None:
    store = make_store()
    store.register_service(Service("web1", "web", tags=("a",)), [(ttl_check("t", "web1"), True)])
    index = store.log.index
    store.register_service(Service("web1", "web", tags=("a",)), [(ttl_check("t", "web1"), True)])
    assert store.log.index == index
    store.register_service(Service("web1", "web", tags=("b",)), [])
    assert store.log.index > index


def test_a_check_keeps_its_status_on_reregistration_unless_one_is_given() -> None:
    store = make_store()
    store.register_service(Service("web1", "web"), [(ttl_check("t", "web1"), True)])
    store.update_check("t", "passing", "ok")
    store.register_service(Service("web1", "web"), [(ttl_check("t", "web1"), True)])
    assert store.checks["t"].status == "passing"
    store.register_service(Service("web1", "web"), [(ttl_check("t", "web1"), False)])
    assert store.checks["t"].status == "critical"


def test_replace_existing_checks_drops_the_missing_ones() -> None:
    store = make_store()
    store.register_service(
        Service("web1", "web"), [(ttl_check("a", "web1"), True), (ttl_check("b", "web1"), True)]
    )
    store.register_service(Service("web1", "web"), [(ttl_check("a", "web1"), True)], True)
    assert [c.id for c in store.service_checks("web1")] == ["a"]


def test_checks_go_to_the_checker_and_leave_it() -> None:
    store = make_store()
    checker = FakeChecker()
    store.start_checks(checker)
    store.register_service(Service("web1", "web"), [(ttl_check("a", "web1"), True)])
    assert set(checker.running) == {"a"}
    store.deregister_service("web1")
    assert checker.running == {}


def test_status_changes_publish_at_once_output_alone_later() -> None:
    async def scenario() -> None:
        store = make_store()
        store.register_service(Service("web1", "web"), [(ttl_check("a", "web1"), True)])
        topic = service_topic("web")
        first = store.log.of(topic)
        store.update_check("a", "passing", "one")
        second = store.log.of(topic)
        assert second > first
        store.update_check("a", "passing", "two")
        store.update_check("a", "passing", "three")
        assert store.log.of(topic) == second
        assert store.checks["a"].output == "three"
        store.flush_output()
        assert store.log.of(topic) == second + 1

    asyncio.run(scenario())


def test_a_node_check_touches_every_service() -> None:
    store = make_store()
    store.register_service(Service("web1", "web"), [])
    before = store.log.of(service_topic("web"))
    store.put_check(Check("_node_maintenance", "m", "critical"))
    assert store.log.of(service_topic("web")) > before


def test_reaping_waits_for_the_timeout_and_its_one_minute_floor() -> None:
    clock = Clock()
    store = make_store(clock=clock)
    store.register_service(Service("web1", "web"), [(ttl_check("a", "web1", 10.0), True)])
    clock.now += 30
    assert store.reap() == []
    clock.now += 31
    assert store.reap() == ["web1"]
    assert store.service("web1") is None


def test_a_passing_check_is_not_reaped() -> None:
    clock = Clock()
    store = make_store(clock=clock)
    store.register_service(Service("web1", "web"), [(ttl_check("a", "web1", 60.0), True)])
    store.update_check("a", "passing", "")
    clock.now += 3600
    assert store.reap() == []


def test_kv_cas_and_per_prefix_indexes_with_tombstones() -> None:
    store = make_store()
    kv = store.kv
    assert kv.put("a/x", b"1", 0, cas=0)
    assert not kv.put("a/x", b"2", 0, cas=0)
    entry = kv.get("a/x")
    assert entry is not None
    assert not kv.put("a/x", b"2", 0, cas=entry.modify_index + 1)
    assert kv.put("a/x", b"2", 7, cas=entry.modify_index)
    assert kv.put("b/y", b"1", 0, None)
    a_index = kv.index("a/", prefix=True)
    assert a_index < kv.index("b/", prefix=True)
    assert kv.delete("a/x", recurse=False, cas=None)
    assert kv.index("a/", prefix=True) > a_index
    assert kv.index("a/x", prefix=False) == kv.index("a/", prefix=True)
    # A missing key, or a prefix nothing was ever under, answers the KV table's index
    # (the last write or delete anywhere), as Consul does.
    assert kv.index("nothing", prefix=False) == kv.table_index == kv.index("a/", prefix=True)
    assert kv.index("never/", prefix=True) == kv.table_index
    assert kv.put("b/y", b"2", 0, None)
    assert kv.index("a/x", prefix=False) == kv.table_index > kv.index("a/", prefix=True)
    assert make_store().kv.index("empty", prefix=False) == 1
