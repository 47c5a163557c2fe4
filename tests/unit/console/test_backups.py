from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from leapfrog.backup.history import History, RunRecord
from leapfrog.console._backups import backup_runs


def test_runs_with_their_latest_verification(tmp_path: Path) -> None:
    history = History(tmp_path / "backups", "postgres")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    common = {"pid": os.getpid(), "store": "postgres"}
    history.save(
        RunRecord(id="b1", action="backup", backup="b1", state="succeeded", started=start, **common)
    )
    history.save(
        RunRecord(
            id="v1",
            action="verify",
            backup="b1",
            state="failed",
            started=start + timedelta(1),
            **common,
        )
    )
    history.save(
        RunRecord(
            id="v2",
            action="verify",
            backup="b1",
            state="succeeded",
            started=start + timedelta(2),
            **common,
        )
    )
    # A run whose process is gone reads as failed, without its record being rewritten.
    dead = RunRecord(
        id="b2",
        action="backup",
        backup="b2",
        started=start + timedelta(3),
        pid=2**22 + 7,
        store="postgres",
    )
    history.save(dead)
    before = sorted(p.read_bytes() for p in history.dir.iterdir())
    rows = backup_runs(tmp_path)
    assert [(r.run.id, r.state) for r in rows] == [("b2", "failed"), ("b1", "succeeded")]
    assert rows[1].verification is not None and rows[1].verification.id == "v2"
    assert rows[0].verification is None
    assert sorted(p.read_bytes() for p in history.dir.iterdir()) == before


def test_no_history_is_empty(tmp_path: Path) -> None:
    assert backup_runs(tmp_path) == []
    assert backup_runs(None) == []
