"""The catalog's state on one node: the node, its services and checks, KV and sessions.

Every mutation allocates an index from `IndexLog` (waking the watchers of the topics it
touches), updates the records and appends them to the journal. Replay applies the same
records without side effects. Checks with a definition are handed to the `Checker`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from leapfrog.catalog._acl_state import AclState
from leapfrog.catalog._index import CHECKS, NODE, NODES, SERVICES, IndexLog, service_topic
from leapfrog.catalog._intentions import IntentionState
from leapfrog.catalog._journal import Journal
from leapfrog.catalog._kvstore import KVStore
from leapfrog.catalog._model import Check, Service
from leapfrog.catalog._records import check_check, check_service
from leapfrog.catalog._sessions import SessionStore
from leapfrog.catalog._watch import WatchHub
from leapfrog.catalog.checks.api import Checker, Status

__all__ = ["SERF_CHECK", "Store"]

SERF_CHECK = "serfHealth"


class Store:
    def __init__(
        self,
        datacenter: str,
        node_name: str,
        node_address: str,
        journal: Journal | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        output_throttle: float = 30.0,
    ) -> None:
        self.datacenter = datacenter
        self.node_name = node_name
        self.node_address = node_address
        self.node_id = str(uuid.uuid4())
        self.node_meta: dict[str, str] = {}
        self.node_index = (0, 0)
        self.hub = WatchHub()
        self.log = IndexLog(journal, self.hub)
        self.kv = KVStore(self.log)
        self.services: dict[str, Service] = {}
        self.by_name: dict[str, dict[str, Service]] = {}
        self.checks: dict[str, Check] = {}
        self.checks_of: dict[str, dict[str, Check]] = {}
        """Checks by service ID; node checks under ""."""
        self.sessions = SessionStore(self.log, self.kv, self.checks, clock)
        self.acl = AclState(self.log)
        """Policies, roles and tokens made through the ACL API."""
        self.intentions = IntentionState(self.log)
        """Service intentions (who may call whom)."""
        self.checker: Checker | None = None
        self._clock = clock
        self._output_throttle = output_throttle
        self._pending_output: set[str] = set()
        self._output_timer: asyncio.TimerHandle | None = None

    # ---- node -----------------------------------------------------------------------

    def ensure_node(self) -> None:
        """Register the node (first start) and its serfHealth check."""
        if self.node_index == (0, 0):
            index = self.log.next((NODES, NODE))
            self.node_index = (index, index)
            self._record_node()
        if SERF_CHECK not in self.checks:
            check = Check(
                SERF_CHECK, "Serf Health Status", "passing", output="Agent alive and reachable"
            )
            self.put_check(check)

    def set_node_meta(self, meta: dict[str, str]) -> None:
        """Replace the node's metadata (catalog/register's NodeMeta)."""
        if meta == self.node_meta:
            return
        topics = {NODES, NODE, SERVICES} | {service_topic(name) for name in self.by_name}
        self.node_meta = dict(meta)
        self.node_index = (self.node_index[0], self.log.next(topics))
        self._record_node()

    def _record_node(self) -> None:
        self.log.record(
            {"o": "node", "id": self.node_id, "meta": self.node_meta, "ix": list(self.node_index)}
        )

    # ---- services -------------------------------------------------------------------

    def service(self, service_id: str) -> Service | None:
        return self.services.get(service_id)

    def instances(self, name: str) -> list[Service]:
        return sorted(self.by_name.get(name.lower(), {}).values(), key=lambda s: s.id)

    def register_service(
        self,
        service: Service,
        checks: list[tuple[Check, bool]],
        replace_checks: bool = False,
    ) -> None:
        """Add or update a service with its checks (each with its `keep_status` flag)."""
        check_service(service)  # all of it before any of it changes the store
        for check, _ in checks:
            check_check(check)
        existing = self.services.get(service.id)
        topics = {SERVICES, NODE, service_topic(service.name)}
        if existing is not None:
            topics.add(service_topic(existing.name))
        if existing is None or not existing.same_registration(service):
            index = self.log.next(topics)
            service.create_index = existing.create_index if existing else index
            service.modify_index = index
            if existing is not None:
                self.unlink_service(existing)
            self.link_service(service)
            self.log.record({"o": "svc", "v": service.to_dict()})
        keep = {c.id for c, _ in checks}
        if replace_checks:
            for old in list(self.checks_of.get(service.id, {}).values()):
                if old.id not in keep and not old.id.startswith("_service_maintenance:"):
                    self.remove_check(old.id)
        for check, keep_status in checks:
            self.put_check(check, keep_status)

    def deregister_service(self, service_id: str) -> bool:
        service = self.services.get(service_id)
        if service is None:
            return False
        for check_id in list(self.checks_of.get(service_id, {})):
            self.remove_check(check_id)
        self.log.next((SERVICES, NODE, CHECKS, service_topic(service.name)))
        self.unlink_service(service)
        self.log.record({"o": "svc-", "id": service_id})
        return True

    def link_service(self, service: Service) -> None:
        self.services[service.id] = service
        self.by_name.setdefault(service.name.lower(), {})[service.id] = service

    def unlink_service(self, service: Service) -> None:
        self.services.pop(service.id, None)
        group = self.by_name.get(service.name.lower())
        if group is not None:
            group.pop(service.id, None)
            if not group:
                del self.by_name[service.name.lower()]

    # ---- checks ---------------------------------------------------------------------

    def check_topics(self, check: Check) -> set[str]:
        topics = {CHECKS, NODE}
        if check.service_id:
            service = self.services.get(check.service_id)
            if service is not None:
                topics.add(service_topic(service.name))
        else:  # a node check changes the health of every service on the node
            topics.update(service_topic(name) for name in self.by_name)
        return topics

    def put_check(self, check: Check, keep_status: bool = True) -> None:
        """Add or replace a check; an existing check's status survives re-registration
        unless the new definition gives one (`keep_status` false)."""
        check_check(check)
        old = self.checks.get(check.id)
        if keep_status and old is not None and old.kind == check.kind and check.definition:
            check.status, check.output = old.status, old.output
            check.critical_since = old.critical_since
        elif check.status == "critical":
            check.critical_since = self._clock()
        if old is not None and _same_check(old, check):
            return
        index = self.log.next(self.check_topics(check) | (self.check_topics(old) if old else set()))
        check.create_index = old.create_index if old else index
        check.modify_index = index
        if old is not None:
            self.unlink_check(old)
        self.link_check(check)
        self.log.record({"o": "chk", "v": check.to_dict()})
        if self.checker is not None and check.definition is not None:
            self.checker.add(check.definition, check.status)
        elif self.checker is not None and old is not None and old.definition is not None:
            self.checker.remove(check.id)  # replaced by a static (catalog) check
        if check.status == "critical":
            self.sessions.check_failed(check.id)

    def remove_check(self, check_id: str) -> bool:
        check = self.checks.get(check_id)
        if check is None:
            return False
        if self.checker is not None and check.definition is not None:
            self.checker.remove(check_id)
        self.log.next(self.check_topics(check))
        self.unlink_check(check)
        self.log.record({"o": "chk-", "id": check_id})
        self._pending_output.discard(check_id)
        self.sessions.check_failed(check_id)
        return True

    def update_check(self, check_id: str, status: Status, output: str) -> None:
        """A check's result: a status change is published at once, output alone later."""
        check = self.checks.get(check_id)
        if check is None:
            return
        if status == check.status:
            if output != check.output:
                check.output = output
                self._pending_output.add(check_id)
                self._schedule_output_flush()
            return
        check.status, check.output = status, output
        check.critical_since = self._clock() if status == "critical" else None
        check.modify_index = self.log.next(self.check_topics(check))
        self._pending_output.discard(check_id)
        self.log.record({"o": "chk", "v": check.to_dict()})
        if status == "critical":
            self.sessions.check_failed(check_id)

    def _schedule_output_flush(self) -> None:
        if self._output_timer is None:
            loop = asyncio.get_running_loop()
            self._output_timer = loop.call_later(self._output_throttle, self.flush_output)

    def flush_output(self) -> None:
        """Publish the output-only changes gathered since the last flush, in one index."""
        self._output_timer = None
        changed = [self.checks[i] for i in self._pending_output if i in self.checks]
        self._pending_output.clear()
        if not changed:
            return
        topics: set[str] = set()
        for check in changed:
            topics |= self.check_topics(check)
        index = self.log.next(topics)
        for check in changed:
            check.modify_index = index
            self.log.record({"o": "chk", "v": check.to_dict()})

    def link_check(self, check: Check) -> None:
        self.checks[check.id] = check
        self.checks_of.setdefault(check.service_id, {})[check.id] = check

    def unlink_check(self, check: Check) -> None:
        self.checks.pop(check.id, None)
        group = self.checks_of.get(check.service_id)
        if group is not None:
            group.pop(check.id, None)
            if not group:
                del self.checks_of[check.service_id]

    def service_checks(self, service_id: str) -> list[Check]:
        return sorted(self.checks_of.get(service_id, {}).values(), key=lambda c: c.id)

    def node_checks(self) -> list[Check]:
        return self.service_checks("")

    def reap(self, minimum: float = 60.0) -> list[str]:
        """Deregister services with a check critical past its DeregisterCriticalServiceAfter."""
        now = self._clock()
        doomed = {
            c.service_id
            for c in self.checks.values()
            if c.service_id
            and c.deregister_after > 0
            and c.status == "critical"
            and c.critical_since is not None
            and now - c.critical_since >= max(c.deregister_after, minimum)
        }
        for service_id in doomed:
            self.deregister_service(service_id)
        return sorted(doomed)

    def now(self) -> float:
        return self._clock()

    def start_checks(self, checker: Checker) -> None:
        self.checker = checker
        for check in self.checks.values():
            if check.definition is not None:
                checker.add(check.definition, check.status)


def _same_check(old: Check, new: Check) -> bool:
    return all(
        getattr(old, f) == getattr(new, f)
        for f in Check.__slots__
        if f not in ("create_index", "modify_index", "critical_since")
    )
