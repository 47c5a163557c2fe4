"""The backup operator's Prometheus metrics, recomputed at each scrape from the Backup
objects it sees (kopf lists them all when it starts, then follows each change), so they
are right after a restart too. Served with `/health` on the operator's port
(`leapfrog backup operator --listen`), the `metrics` port of its pod on Kubernetes.

Every figure has the labels `schedule` (the BackupSchedule a run came from, empty for
one made by hand without it) and `store` (the store's Service):

- `leapfrog_backup_last_success_timestamp_seconds`: the newest Succeeded run's end;
- `leapfrog_backup_failures_total`: Failed runs this operator has seen (those that exist
  when it starts, and every one since, even once retention deleted it);
- `leapfrog_backup_runs{phase}`: the Backup objects there are now, by phase;
- `leapfrog_backup_running`: runs not finished (Pending or Running);
- `leapfrog_backup_recoverable_{from,to}_timestamp_seconds`, `..._recoverable_points`,
  `leapfrog_backup_recoverability_window_seconds`: the schedule's recoverability window
  (`_kube_runs.recoverability`: Succeeded runs whose verification did not fail).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from leapfrog.backup._kube_runs import recoverability

__all__ = ["PHASES", "OperatorMetrics"]

PHASES = ("Pending", "Running", "Succeeded", "Failed")
_LABELS = ["schedule", "store"]
_P = "leapfrog_backup"


def _key(backup: Mapping[str, Any]) -> tuple[str, str]:
    spec = backup.get("spec") or {}
    return str(spec.get("schedule") or ""), str((spec.get("store") or {}).get("service") or "")


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class OperatorMetrics:
    """The Backup objects as the operator last saw them, and the metric families made
    from them (a prometheus_client collector). `seen` and `gone` come from kopf's
    thread, `collect` from the HTTP server's: a lock keeps them apart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backups: dict[tuple[str, str], dict[str, Any]] = {}
        self._failed: dict[tuple[str, str], set[str]] = {}

    def seen(self, backup: Mapping[str, Any]) -> None:
        """A Backup as it is now (listed, created or changed)."""
        meta = backup.get("metadata") or {}
        ident = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        kept = {"spec": dict(backup.get("spec") or {}), "status": dict(backup.get("status") or {})}
        kept["metadata"] = {"name": ident[1], "uid": meta.get("uid") or "/".join(ident)}
        with self._lock:
            self._backups[ident] = kept
            if kept["status"].get("phase") == "Failed":
                self._failed.setdefault(_key(kept), set()).add(str(kept["metadata"]["uid"]))

    def gone(self, namespace: str, name: str) -> None:
        """A Backup deleted (by retention, or by hand)."""
        with self._lock:
            self._backups.pop((namespace, name), None)

    def registry(self) -> CollectorRegistry:
        found = CollectorRegistry(auto_describe=False)
        found.register(self)
        return found

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            backups = list(self._backups.values())
            failed = {key: len(uids) for key, uids in self._failed.items()}
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in failed}
        for backup in backups:
            groups.setdefault(_key(backup), []).append(backup)

        def gauge(name: str, text: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{_P}_{name}", text, labels=[*_LABELS, *extra])

        last = gauge(
            "last_success_timestamp_seconds",
            "When the newest Succeeded backup of the store ended, Unix time",
        )
        failures = CounterMetricFamily(
            f"{_P}_failures", "Failed backups this operator has seen", labels=_LABELS
        )
        runs = gauge("runs", "Backup objects by phase", ("phase",))
        running = gauge("running", "Backups not finished yet (Pending or Running)")
        start = gauge(
            "recoverable_from_timestamp_seconds",
            "The oldest backup the store can be put back to, Unix time",
        )
        end = gauge(
            "recoverable_to_timestamp_seconds",
            "The newest backup the store can be put back to, Unix time",
        )
        points = gauge("recoverable_points", "Backups the store can be put back to")
        window = gauge(
            "recoverability_window_seconds",
            "From the oldest to the newest backup the store can be put back to",
        )
        for key, group in sorted(groups.items()):
            labels = list(key)
            phases = [str((b.get("status") or {}).get("phase") or "Pending") for b in group]
            for phase in PHASES:
                runs.add_metric([*labels, phase], float(phases.count(phase)))
            running.add_metric(labels, float(sum(p in ("Pending", "Running") for p in phases)))
            failures.add_metric(labels, float(failed.get(key, 0)))
            ends = [
                _seconds(str(b["status"]["completionTime"]))
                for b in group
                if b["status"].get("phase") == "Succeeded" and b["status"].get("completionTime")
            ]
            if ends:
                last.add_metric(labels, max(ends))
            window_of = recoverability(group)
            points.add_metric(labels, float(window_of["recoverablePoints"]))
            if window_of["recoverablePoints"]:
                first = _seconds(window_of["recoverableFrom"])
                newest = _seconds(window_of["recoverableTo"])
                start.add_metric(labels, first)
                end.add_metric(labels, newest)
                window.add_metric(labels, newest - first)
        yield from (last, failures, runs, running, start, end, points, window)
