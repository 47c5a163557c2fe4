"""The backup operator's metrics from the Backup objects it saw: a scrape of the registry
it serves, parsed with prometheus_client's own text parser."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from leapfrog.backup._kube_metrics import OperatorMetrics


def backup(name: str, phase: str | None, end: str | None = None, **extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {}
    if phase:
        status["phase"] = phase
    if end:
        status["completionTime"] = end
    status.update(extra)
    return {
        "metadata": {"name": name, "namespace": "n", "uid": f"uid-{name}"},
        "spec": {"schedule": "pg", "store": {"kind": "postgres", "service": "postgres"}},
        "status": status,
    }


def verified(ok: bool) -> list[dict[str, str]]:
    return [{"type": "Verified", "status": "True" if ok else "False", "reason": "Restored"}]


def scrape(metrics: OperatorMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry()).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


PG = (("schedule", "pg"), ("store", "postgres"))


def test_the_figures_come_from_the_backups_seen() -> None:
    metrics = OperatorMetrics()
    metrics.seen(backup("a", "Succeeded", "2026-12-06T10:00:00Z", conditions=verified(True)))
    metrics.seen(backup("b", "Succeeded", "2026-12-06T11:00:00Z", conditions=verified(True)))
    metrics.seen(backup("c", "Failed", "2026-12-06T12:00:00Z"))
    metrics.seen(backup("d", "Running"))
    metrics.seen(backup("e", None))
    found = scrape(metrics)
    assert found["leapfrog_backup_last_success_timestamp_seconds", PG] == 1796554800.0
    assert found["leapfrog_backup_failures_total", PG] == 1.0
    for phase, count in {"Pending": 1, "Running": 1, "Succeeded": 2, "Failed": 1}.items():
        assert found["leapfrog_backup_runs", (("phase", phase), *PG)] == count
    assert found["leapfrog_backup_running", PG] == 2.0
    assert found["leapfrog_backup_recoverable_points", PG] == 2.0
    assert found["leapfrog_backup_recoverable_from_timestamp_seconds", PG] == 1796551200.0
    assert found["leapfrog_backup_recoverable_to_timestamp_seconds", PG] == 1796554800.0
    assert found["leapfrog_backup_recoverability_window_seconds", PG] == 3600.0


def test_a_failed_verification_is_outside_the_window_and_deletions_leave_the_count() -> None:
    metrics = OperatorMetrics()
    metrics.seen(backup("a", "Succeeded", "2026-12-06T10:00:00Z", conditions=verified(False)))
    metrics.seen(backup("c", "Running"))
    metrics.seen(backup("c", "Failed", "2026-12-06T12:00:00Z"))
    metrics.seen(backup("c", "Failed", "2026-12-06T12:00:00Z"))  # seen again: one failure
    found = scrape(metrics)
    assert found["leapfrog_backup_recoverable_points", PG] == 0.0
    assert ("leapfrog_backup_recoverable_from_timestamp_seconds", PG) not in found
    assert found["leapfrog_backup_failures_total", PG] == 1.0
    # retention deletes it: no longer a run, still a failure (a counter never goes down)
    metrics.gone("n", "c")
    found = scrape(metrics)
    assert found["leapfrog_backup_runs", (("phase", "Failed"), *PG)] == 0.0
    assert found["leapfrog_backup_failures_total", PG] == 1.0
    assert found["leapfrog_backup_running", PG] == 0.0


def test_nothing_seen_is_an_empty_page() -> None:
    assert scrape(OperatorMetrics()) == {}


def test_the_operator_refuses_a_listen_address_that_is_not_host_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from leapfrog.cli import main

    code = main(["backup", "operator", "--namespace", "n", "--image", "i", "--listen", "9612"])
    assert code == 2
    assert "'9612' is not HOST:PORT" in capsys.readouterr().err
