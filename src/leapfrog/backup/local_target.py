"""`leapfrog backup list|run|restore` on this machine: the engine of a store of the stack
(or of a store reached with `--store-kind`), behind the target contract (target.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from leapfrog.backup.engine import Engine, Limits
from leapfrog.backup.history import RunRecord
from leapfrog.backup.manifest import summary_of
from leapfrog.backup.target import Listing, Outcome, Report, RestorePlan, RunRequest, Table
from leapfrog.shared.errors import LeapfrogError

__all__ = ["EngineOf", "LocalBackups", "outcome_of", "size_text"]

EngineOf = Callable[..., Engine]
"""`(store, limits=None, progress=None, choice=None, stack_choice=False) -> Engine`."""


def size_text(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _state(record: RunRecord | None) -> str | None:
    return None if record is None else record.state


def outcome_of(record: RunRecord) -> Outcome:
    return Outcome(
        record.action,
        record.store,
        record.backup,
        record.state,
        record.reason,
        json.loads(record.model_dump_json()),
    )


class LocalBackups:
    where = ""

    def __init__(self, engine_of: EngineOf) -> None:
        self.engine_of = engine_of

    @staticmethod
    def _local_only(request: RunRequest) -> None:
        if not request.wait or request.timeout is not None:
            flag = "--no-wait" if not request.wait else "--timeout"
            raise LeapfrogError(
                f"{flag} is for --target kubernetes: a local backup runs in this command",
                hint="leave it out, or add --target kubernetes for the cluster's backups",
            )

    def listing(self, store: str | None) -> Listing:
        engine = self.engine_of(store)
        backups = engine.backups()
        runs = engine.history.records()
        verified = {m.id: engine.history.verification(m.id) for m in backups}
        notes = engine.driver.describe(engine.store, engine.storage, backups)
        body = {
            "store": engine.store.name,
            "storage": engine.storage.description,
            "backups": [
                {
                    **m.model_dump(mode="json", exclude={"facts"}),
                    "size": m.size,
                    "raw_size": m.raw_size,
                    "object_count": len(m.objects),
                    "position_summary": engine.driver.position_summary(m.position),
                    "verified": _state(verified[m.id]),
                }
                for m in backups
            ],
            "notes": notes,
            "runs": [r.model_dump(mode="json", exclude={"details"}) for r in runs],
        }
        rows = []
        for m in backups:
            check = verified[m.id]
            rows.append(
                (
                    m.id,
                    m.mode,
                    ", ".join(m.chosen) or "all",
                    f"{m.ended:%Y-%m-%d %H:%M:%S}",
                    size_text(m.size),
                    engine.driver.position_summary(m.position),
                    "never" if check is None else check.state,
                )
            )
        columns = ("ID", "MODE", "CHOSEN", "ENDED (UTC)", "SIZE", "POSITION", "VERIFIED")
        history = [
            (f"{r.started:%Y-%m-%d %H:%M:%S}", r.action, r.state, r.backup, r.reason)
            for r in runs[-15:]
        ]
        return Listing(
            body,
            [
                Table(f"backups of {engine.store.name}", columns, rows),
                Table(
                    "runs (newest last)",
                    ("STARTED (UTC)", "ACTION", "STATE", "BACKUP", "REASON"),
                    history,
                    wrap_last=True,
                ),
            ],
            f"{engine.store.name} has no backup yet",
            list(notes),
        )

    def run(self, store: str | None, request: RunRequest, progress: Report | None) -> Outcome:
        self._local_only(request)
        limits = Limits(
            6 * 3600 if request.deadline is None else request.deadline,
            300 if request.stall_after is None else request.stall_after,
        )
        engine = self.engine_of(store, limits, progress, request.choice, stack_choice=True)
        record = engine.run_backup(
            request.mode, compress=request.compress, backup_id=request.backup_id
        )
        if request.summary_to is not None and record.state == "succeeded":
            manifest = engine.find(record.backup)
            summary = summary_of(manifest, engine.driver.position_summary(manifest.position))
            try:
                request.summary_to.write_text(json.dumps(summary, separators=(",", ":")))
            except OSError as exc:  # the backup itself is good: say so, and go on
                print(
                    f"warning: the backup's summary was not written to {request.summary_to}: "
                    f"{exc.strerror or exc}",
                    file=sys.stderr,
                )
        return outcome_of(record)

    def plan_restore(
        self, store: str | None, backup: str | None, request: RunRequest
    ) -> RestorePlan:
        self._local_only(request)
        engine = self.engine_of(store, choice=request.choice)
        manifest, lines = engine.plan_restore(backup, request.to)
        return RestorePlan(engine.store.name, manifest.id, list(lines), manifest)

    def restore(self, plan: RestorePlan, request: RunRequest, progress: Report | None) -> Outcome:
        engine = self.engine_of(plan.store, progress=progress, choice=request.choice)
        chosen: Any = plan.chosen
        return outcome_of(engine.restore(chosen, request.to))
