"""The directory storage under concurrent runs of several stores (the scheduler's
threads share one root)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from leapfrog.backup import DirectoryStorage


def test_checks_of_one_root_at_the_same_time_all_pass(tmp_path: Path) -> None:
    storage = DirectoryStorage(tmp_path / "backups")
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: storage.check(), range(400)))
    assert results == [None] * 400
    assert list((tmp_path / "backups").iterdir()) == []  # no probe left behind
