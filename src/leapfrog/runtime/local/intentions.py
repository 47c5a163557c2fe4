"""The catalog's intentions from the stack file's callers, when the stack turns identity on.

Each service's callers (`callers_of`: its `callers:`, or the services that list it in
depends_on, and its allow_from) become `caller => service (allow)` intentions marked
`Meta: {managed-by: leapfrog}`, written through the catalog's HTTP API as
`consul intention create` would: at `up` once the catalog is healthy and before any
service starts (so the first calls already find them), and at each apply of a changed
stack file, where nothing restarts. An intention leapfrog made that the stack file no
longer declares is deleted; intentions anyone else made are never touched, and a
declared pair that someone else already has an intention for keeps theirs (said in
the changes). With the catalog's default policy deny, what is not declared is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from leapfrog.runtime.local.paths import StatePaths
from leapfrog.shared.errors import LeapfrogError
from leapfrog.spec import Pair, StackSpec, declared_pairs

if TYPE_CHECKING:
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = [
    "MANAGED_META",
    "CatalogIntentions",
    "IntentionChanges",
    "IntentionKeeper",
]

MANAGED_META = {"managed-by": "leapfrog"}
"""The Meta that marks the intentions leapfrog writes (and may delete)."""
_DESCRIPTION = "declared in the stack file (callers)"
_RETRY_EVERY = 0.5
_RETRY_FOR = 60.0


def _text(pair: Pair) -> str:
    return f"{pair[0]} => {pair[1]}"


@dataclass(frozen=True)
class IntentionChanges:
    allowed: list[str] = field(default_factory=list)
    """Intentions written (`web => api`)."""
    removed: list[str] = field(default_factory=list)
    """leapfrog's intentions deleted: their callers are no longer declared."""
    kept: list[str] = field(default_factory=list)
    """Declared pairs where an intention someone else made stays in force."""

    def summary(self) -> list[str]:
        return (
            [f"allow {x}" for x in self.allowed]
            + [f"remove {x}" for x in self.removed]
            + [f"{x}: an intention not made by leapfrog stays in force" for x in self.kept]
        )


class CatalogIntentions:
    """The intentions of one catalog, through its HTTP API (`/v1/connect/intentions`)."""

    def __init__(self, address: str, token: str | None, timeout: float = 5.0) -> None:
        self.address = address
        headers = {"X-Consul-Token": token} if token else {}
        self._client = httpx.Client(
            base_url=f"http://{address}", headers=headers, timeout=timeout, trust_env=False
        )

    @classmethod
    def of_stack(cls, spec: StackSpec, paths: StatePaths) -> CatalogIntentions:
        token = None
        if spec.catalog.acl:
            with contextlib.suppress(OSError):
                token = paths.catalog_token.read_text().strip() or None
        return cls(spec.catalog.http, token)

    def close(self) -> None:
        self._client.close()

    def sync(self, pairs: Iterable[Pair]) -> IntentionChanges:
        """Make leapfrog's intentions exactly `pairs` (allow), leaving others' alone."""
        wanted = set(pairs)
        found = self._call("GET", "/v1/connect/intentions")
        ours: set[Pair] = set()  # leapfrog's; `current`: those that allow, as written
        current: set[Pair] = set()
        theirs: set[Pair] = set()
        for ixn in found if isinstance(found, list) else []:
            pair = (str(ixn.get("SourceName", "")), str(ixn.get("DestinationName", "")))
            meta = ixn.get("Meta") or {}
            if isinstance(meta, Mapping) and all(meta.get(k) == v for k, v in MANAGED_META.items()):
                ours.add(pair)
                if ixn.get("Action") == "allow":
                    current.add(pair)
            else:
                theirs.add(pair)
        changes = IntentionChanges()
        for pair in sorted(wanted - current, key=lambda p: (p[1], p[0])):
            if pair in theirs:
                changes.kept.append(_text(pair))
                continue
            body = {"Action": "allow", "Description": _DESCRIPTION, "Meta": MANAGED_META}
            self._call("PUT", "/v1/connect/intentions/exact", pair, body)
            changes.allowed.append(_text(pair))
        for pair in sorted(ours - wanted, key=lambda p: (p[1], p[0])):
            self._call("DELETE", "/v1/connect/intentions/exact", pair)
            changes.removed.append(_text(pair))
        return changes

    def _call(self, method: str, path: str, pair: Pair | None = None, body: Any = None) -> Any:
        params = {"source": pair[0], "destination": pair[1]} if pair else None
        try:
            answer = self._client.request(method, path, params=params, json=body)
        except httpx.HTTPError as exc:
            raise LeapfrogError(
                f"cannot reach the catalog at {self.address} to write the intentions: {exc}",
                hint="is the catalog up? `leapfrog status` shows it",
            ) from None
        if answer.status_code != 200:
            what = f"{_text(pair)}: " if pair else ""
            raise LeapfrogError(
                f"the catalog refused the intentions ({what}HTTP {answer.status_code}: "
                f"{answer.text.strip()[:300]})",
                hint="see the catalog's log (`leapfrog logs catalog`)",
            )
        return answer.json() if answer.content else None


class IntentionKeeper:
    """The running stack's part: writes the intentions once the catalog is healthy,
    holds services back until then (`gate`), and writes them again at each apply."""

    def __init__(self, supervisor: Supervisor, catalog: CatalogIntentions, pairs: list[Pair]):
        self.supervisor = supervisor
        self.catalog = catalog
        self.pairs = pairs
        self.gate = asyncio.Event()
        """Set once the first write is done (or given up on): services start after it."""
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def attach(cls, supervisor: Supervisor, spec: StackSpec, paths: StatePaths) -> IntentionKeeper:
        keeper = cls(supervisor, CatalogIntentions.of_stack(spec, paths), declared_pairs(spec))
        supervisor.intentions = keeper
        return keeper

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._first(), name="intentions")
        self.supervisor.track(self._task)

    async def _first(self) -> None:
        try:
            await self.supervisor.wait_healthy("catalog")
            await self._write_until_done(self.pairs)
        finally:
            self.gate.set()

    async def _write_until_done(self, pairs: list[Pair]) -> IntentionChanges | None:
        """Retried while the catalog does not answer (starting, or being replaced)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _RETRY_FOR
        while True:
            try:
                changes = await asyncio.to_thread(self.catalog.sync, pairs)
            except LeapfrogError as exc:
                if loop.time() > deadline:
                    self.supervisor.log_line(f"intentions not written: {exc.message}")
                    return None
                await asyncio.sleep(_RETRY_EVERY)
                continue
            if changes.summary():
                self.supervisor.log_line("intentions: " + "; ".join(changes.summary()))
            return changes

    async def _write_later(self, pairs: list[Pair]) -> None:
        await self._write_until_done(pairs)

    async def apply(self, spec: StackSpec) -> list[str]:
        """The intentions of a changed stack file. Turning identity off keeps them: the
        services still on mTLS check them until they restart plain, and deleting them
        first would refuse their callers (the load balancer's too) meanwhile. Nothing
        checks them once identity is off; turning it on again syncs them."""
        if not spec.identity_on:
            self.pairs = []
            return []
        self.pairs = declared_pairs(spec)
        try:
            changes = await asyncio.to_thread(self.catalog.sync, self.pairs)
        except LeapfrogError:
            # The catalog is being replaced (identity turned on changes its flags): the
            # intentions are written once the new one answers.
            task = asyncio.get_running_loop().create_task(self._write_later(self.pairs))
            self.supervisor.track(task)
            return ["written once the catalog answers again"]
        return changes.summary()

    def close(self) -> None:
        self.catalog.close()
