"""Backups and their verification, from the backup engine's run history
(`<state>/backups/<store>/runs/`, see docs/backup.md). Read only: a run whose process
died mid-way is shown as failed without rewriting its record (the engine does that)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from leapfrog.backup.history import RunRecord
from leapfrog.shared.procs import is_running

__all__ = ["BackupRow", "backup_runs"]


@dataclass(frozen=True)
class BackupRow:
    run: RunRecord
    state: str
    verification: RunRecord | None


def backup_runs(state_dir: Path | None) -> list[BackupRow]:
    """Every backup run, newest first, each with the latest verify run of its backup;
    runs of other actions (restore, prune) too, with no verification."""
    root = state_dir / "backups" if state_dir else None
    if root is None or not root.is_dir():
        return []
    runs: list[RunRecord] = []
    for path in sorted(root.glob("*/runs/*.json")):
        try:
            runs.append(RunRecord.model_validate_json(path.read_bytes()))
        except (OSError, ValidationError):
            continue
    verifies = [r for r in runs if r.action == "verify" and r.state != "running"]
    rows = []
    for run in sorted(runs, key=lambda r: r.started, reverse=True):
        if run.action == "verify":
            continue
        state = run.state
        if state == "running" and not is_running(run.pid, run.pid_start):
            state = "failed"
        checked = [v for v in verifies if v.backup and v.backup == run.backup]
        rows.append(BackupRow(run, state, checked[-1] if checked else None))
    return rows
