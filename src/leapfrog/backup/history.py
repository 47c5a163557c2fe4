"""Run history: one JSON record per run (backup, verify, restore, prune) in the
state directory, kept so `leapfrog backup list` shows what happened.

A record says `running` only while its process lives: a record whose process (pid and
start time) is gone is read as `failed`, because the run died mid-way (kill -9, a
crash, a reboot), and is rewritten so on the next look.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from leapfrog.shared.files import atomic_write_text
from leapfrog.shared.procs import is_running, process_start_time

__all__ = ["History", "RunRecord"]

State = Literal["running", "succeeded", "failed"]


class RunRecord(BaseModel):
    id: str
    store: str
    action: Literal["backup", "verify", "restore", "prune"]
    mode: str = ""
    state: State = "running"
    reason: str = ""
    backup: str = ""
    """The backup made, verified or restored."""
    started: datetime
    ended: datetime | None = None
    bytes: int = 0
    pid: int
    pid_start: int | None = None
    details: dict[str, Any] = {}


class History:
    def __init__(self, root: Path, store: str) -> None:
        self.dir = root / store / "runs"

    def start(self, run_id: str, store: str, action: Any, **fields: Any) -> RunRecord:
        record = RunRecord(
            id=run_id,
            store=store,
            action=action,
            started=datetime.now(UTC),
            pid=os.getpid(),
            pid_start=process_start_time(os.getpid()),
            **fields,
        )
        self.save(record)
        return record

    def save(self, record: RunRecord) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.dir / f"{record.started:%Y%m%dT%H%M%S%fZ}-{record.action}-{record.id}.json"
        atomic_write_text(path, record.model_dump_json(indent=1), 0o600)

    def finish(self, record: RunRecord, state: State, reason: str = "") -> RunRecord:
        done = record.model_copy(
            update={"state": state, "reason": reason, "ended": datetime.now(UTC)}
        )
        self.save(done)
        return done

    def records(self) -> list[RunRecord]:
        """Every run, oldest first; dead `running` ones turned into `failed`."""
        found: list[RunRecord] = []
        for path in sorted(self.dir.glob("*.json")) if self.dir.is_dir() else []:
            try:
                record = RunRecord.model_validate_json(path.read_bytes())
            except (OSError, ValidationError):
                continue
            if record.state == "running" and not is_running(record.pid, record.pid_start):
                record = self.finish(
                    record,
                    "failed",
                    f"the {record.action} process (pid {record.pid}) ended mid-run "
                    "without finishing (killed or crashed)",
                )
            found.append(record)
        return found

    def verification(self, backup_id: str) -> RunRecord | None:
        """The latest finished verify run of a backup."""
        runs = [r for r in self.records() if r.action == "verify" and r.backup == backup_id]
        finished = [r for r in runs if r.state != "running"]
        return finished[-1] if finished else None
