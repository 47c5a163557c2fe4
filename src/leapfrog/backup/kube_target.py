"""`leapfrog backup list|run|restore --target kubernetes`: the backup operator's objects
behind the target contract (target.py).

* list: the namespace's Backup objects (phase, verification, times, size, object
  count, the store's position, store, schedule), and each schedule's recoverability
  window as notes;
* run STORE: a Backup of the store's BackupSchedule (`_kube_runs.backup_on_demand`),
  followed until the operator says it Succeeded or Failed;
* restore: a Restore of a Succeeded Backup (its name, its engine id, or the store's
  newest), checked first by the operator's own rules (`restore_problem`), followed.

The client is the caller's (`leapfrog.runtime.kubernetes.connect`): this module never
reads a kubeconfig.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from leapfrog.backup._kube_api import resource
from leapfrog.backup._kube_runs import (
    backup_on_demand,
    replaced_by,
    restore_for,
    restore_problem,
    verified_state,
)
from leapfrog.backup.drivers import chooses_of
from leapfrog.backup.local_target import size_text
from leapfrog.backup.target import Listing, Outcome, Report, RestorePlan, RunRequest, Table
from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["KubeBackups"]

_FINAL = {"Succeeded": "succeeded", "Failed": "failed"}


def _now() -> datetime:
    return datetime.now(UTC)


def _when(text: Any) -> str:
    return str(text).replace("T", " ").rstrip("Z") if text else ""


class KubeBackups:
    """The Backup, BackupSchedule and Restore objects of one namespace."""

    def __init__(
        self,
        client: Client,
        namespace: str,
        *,
        interval: float = 1.0,
        unclaimed_after: float = 60.0,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.interval = interval
        self.unclaimed_after = unclaimed_after
        """Seconds a new object may wait for the operator's first word before the
        command says no operator seems to run."""
        self.clock = clock
        self.where = f" --target kubernetes -n {namespace}"

    # -- the API, its refusals as sentences ---------------------------------------------

    @contextlib.contextmanager
    def _cluster(self, what: str) -> Iterator[None]:
        import httpx2
        from lightkube.core.exceptions import ApiError

        try:
            yield
        except ApiError as exc:
            code = getattr(exc.status, "code", None)
            message = getattr(exc.status, "message", None) or str(exc)
            if code == 404:
                raise LeapfrogError(
                    f"the cluster has no leapfrog.dev backups to {what}: the backup "
                    "operator's CustomResourceDefinitions are not installed",
                    hint="`leapfrog apply` a stack whose stores declare `backups:` installs "
                    "them with the operator",
                ) from None
            raise LeapfrogError(
                f"the cluster refused to {what} in namespace {self.namespace}: {message}",
                hint=f"check your rights there: kubectl auth can-i --list -n {self.namespace}",
            ) from None
        except httpx2.HTTPError as exc:
            raise LeapfrogError(
                f"cannot reach the cluster to {what}: {exc or type(exc).__name__}",
                hint="check the kubeconfig's server, --kubeconfig and --context "
                "(kubectl cluster-info)",
            ) from None

    def _list(self, kind: str) -> list[dict[str, Any]]:
        with self._cluster(f"list the {kind}s"):
            return [o.to_dict() for o in self.client.list(resource(kind), namespace=self.namespace)]

    def _get(self, kind: str, name: str) -> dict[str, Any] | None:
        from lightkube.core.exceptions import ApiError

        with self._cluster(f"read {kind} {name}"):
            try:
                found: dict[str, Any] = self.client.get(
                    resource(kind), name, namespace=self.namespace
                ).to_dict()
            except ApiError as exc:
                if getattr(exc.status, "code", None) == 404:
                    return None
                raise
        return found

    def _create(self, obj: dict[str, Any]) -> dict[str, Any]:
        from lightkube.codecs import from_dict
        from lightkube.core.exceptions import ApiError

        kind, name = obj["kind"], obj["metadata"]["name"]
        resource(kind)
        with self._cluster(f"create {kind} {name}"):
            try:
                made: dict[str, Any] = self.client.create(from_dict(obj)).to_dict()  # type: ignore[no-untyped-call]
            except ApiError as exc:
                if getattr(exc.status, "code", None) != 409:
                    raise
                raise LeapfrogError(
                    f"{kind} {name} exists already (one was asked for this same second)",
                    hint="run the command again in a second",
                ) from None
        return made

    # -- the contract -------------------------------------------------------------------

    def listing(self, store: str | None) -> Listing:
        backups = [b for b in self._list("Backup") if store is None or _store(b) == store]
        backups.sort(key=lambda b: str(_status(b).get("startTime") or b["metadata"].get(
            "creationTimestamp") or ""))  # fmt: skip
        schedules = [s for s in self._list("BackupSchedule") if store is None or _store(s) == store]
        entries = [_summary(b) for b in backups]
        rows = [
            (
                e["name"],
                e["store"],
                e["schedule"] or "",
                e["phase"],
                e["verified"] or "never",
                _when(e["ended"]),
                size_text(e["size"]) if e["size"] is not None else "",
                str(e["object_count"]) if e["object_count"] is not None else "",
                e["id"] or "",
                e["position_summary"] or "",
            )
            for e in entries
        ]
        # The start is in --json; the position (the longest) last, where it may wrap.
        columns = ("NAME", "STORE", "SCHEDULE", "PHASE", "VERIFIED", "ENDED (UTC)", "SIZE",
                   "OBJECTS", "ID", "POSITION")  # fmt: skip
        title = f"backups in namespace {self.namespace}" + (f" of {store}" if store else "")
        windows = [_window(s) for s in schedules]
        notes = [w["note"] for w in windows]
        body = {
            "target": "kubernetes",
            "namespace": self.namespace,
            "store": store,
            "backups": entries,
            "schedules": [{k: v for k, v in w.items() if k != "note"} for w in windows],
        }
        empty = f"no Backup{' of ' + store if store else ''} in namespace {self.namespace}"
        return Listing(body, [Table(title, columns, rows, wrap_last=True)], empty, notes)

    def _schedule_of(self, store: str | None) -> dict[str, Any]:
        schedules = self._list("BackupSchedule")
        named = ", ".join(sorted(_store(s) for s in schedules)) or "none"
        if store is None:
            if len(schedules) == 1:
                return schedules[0]
            raise LeapfrogError(
                f"name the store to back up: namespace {self.namespace} has "
                f"{len(schedules)} BackupSchedules (stores: {named})",
                hint=f"leapfrog backup run STORE{self.where}",
            )
        found = [s for s in schedules if _store(s) == store]
        found = [s for s in found if s["metadata"]["name"] == store] or found
        if not found:
            raise LeapfrogError(
                f"no BackupSchedule backs up {store} in namespace {self.namespace} "
                f"(stores with one: {named})",
                hint=f"give {store} a `backups:` block in the stack file and `leapfrog apply` "
                "it (that renders its BackupSchedule), or pick another namespace with -n",
            )
        return found[0]

    def run(self, store: str | None, request: RunRequest, progress: Report | None) -> Outcome:
        for given, flag in (
            (request.mode, "--mode"),
            (not request.compress, "--no-compress"),
            (request.backup_id, "--id"),
            (request.stall_after, "--stall-after"),
            (request.summary_to, "--summary-to"),
        ):
            if given:
                raise LeapfrogError(
                    f"{flag} is for local backups: the operator's Job takes the schedule's "
                    "settings",
                    hint="leave it out with --target kubernetes",
                )
        schedule = self._schedule_of(store)
        chosen = tuple(name for names in request.choice.values() for name in names)
        deadline = int(request.deadline) if request.deadline is not None else None
        made = self._create(backup_on_demand(schedule, self.clock(), deadline, chosen))
        name = made["metadata"]["name"]
        if progress is not None:
            progress(f"created Backup {name}", None)
        if not request.wait:
            return Outcome(
                "backup",
                _store(made),
                name,
                "started",
                f"`leapfrog backup list {_store(made)}{self.where}` shows how it goes",
                {**_summary(made), "action": "backup", "state": "started"},
            )
        final = self._follow("Backup", name, progress, request.timeout)
        phase = str(_status(final).get("phase"))
        return Outcome(
            "backup",
            _store(final),
            name,
            _FINAL[phase],
            str(_status(final).get("message") or ""),
            {**_summary(final), "action": "backup", "state": _FINAL[phase]},
        )

    def _follow(
        self, kind: str, name: str, progress: Report | None, timeout: float | None
    ) -> dict[str, Any]:
        """The object once its phase is Succeeded or Failed, saying each change."""
        started = time.monotonic()
        said = ""
        while True:
            found = self._get(kind, name)
            if found is None:
                raise LeapfrogError(
                    f"{kind} {name} was deleted while it ran",
                    hint=f"kubectl -n {self.namespace} get events --field-selector "
                    f"involvedObject.name={name}",
                )
            status = _status(found)
            phase = status.get("phase")
            line = f"{kind} {name}: {phase}: {status.get('message')}" if phase else ""
            if line and line != said and progress is not None:
                progress(line, None)
            said = line or said
            if phase in _FINAL:
                return found
            waited = time.monotonic() - started
            if not status and waited > self.unclaimed_after:
                raise LeapfrogError(
                    f"no backup operator took {kind} {name} within {self.unclaimed_after:g} s "
                    f"(it stays, and runs once the operator does)",
                    hint=f"is the operator running? kubectl -n {self.namespace} get deployment "
                    "backup-operator",
                )
            if timeout is not None and waited > timeout:
                raise LeapfrogError(
                    f"{kind} {name} is still {phase or 'Pending'} after {timeout:g} s",
                    hint=f"it goes on; `leapfrog backup list{self.where}` shows it",
                )
            time.sleep(self.interval)

    def _backup_named(self, name: str) -> dict[str, Any] | None:
        found = self._get("Backup", name)
        if found is not None:
            return found
        # an engine id (status.backupId) names it too
        return next((b for b in self._list("Backup") if _status(b).get("backupId") == name), None)

    def _chosen_backup(
        self, store: str | None, backup: str | None, to: datetime | None = None
    ) -> dict[str, Any]:
        """The Backup named, else STORE's newest Succeeded one (with `to`: the newest
        that ended by then, whose WAL replays forward to it)."""
        listed = f"`leapfrog backup list{self.where}` lists them"
        if backup is not None:
            found = self._backup_named(backup)
            if found is None:
                raise LeapfrogError(
                    f"there is no Backup {backup} in namespace {self.namespace}", hint=listed
                )
            if store is not None and _store(found) != store:
                raise LeapfrogError(
                    f"Backup {backup} is of {_store(found)}, not of {store}", hint=listed
                )
            return found
        if store is None:
            raise LeapfrogError(
                "name the Backup to restore (or its store, for its newest)",
                hint=f"leapfrog backup restore BACKUP{self.where}; {listed}",
            )
        named = self._get("Backup", store)
        if named is not None:  # `restore BACKUP`: the argument is a Backup's name
            return named
        good = [
            b
            for b in self._list("Backup")
            if _store(b) == store and _status(b).get("phase") == "Succeeded"
        ]
        if to is not None:
            stamp = to.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            ended = [b for b in good if str(_status(b).get("completionTime") or "") <= stamp]
            if good and not ended:
                raise LeapfrogError(
                    f"no Succeeded Backup of {store} ended by {stamp}: WAL replays forward "
                    "from a backup only",
                    hint=listed,
                )
            good = ended
        if not good:
            raise LeapfrogError(
                f"{store} has no Succeeded Backup in namespace {self.namespace} (and no "
                f"Backup is named {store})",
                hint=f"leapfrog backup run {store}{self.where} takes one; {listed}",
            )
        return max(good, key=lambda b: str(_status(b).get("completionTime") or ""))

    def plan_restore(
        self, store: str | None, backup: str | None, request: RunRequest
    ) -> RestorePlan:
        found = self._chosen_backup(store, backup, request.to)
        chosen = _chosen(found, request.choice)
        restore = restore_for(found, self.clock())
        if request.to is not None:
            restore["spec"]["pointInTime"] = request.to.strftime("%Y-%m-%dT%H:%M:%SZ")
        if chosen:
            restore["spec"]["chosen"] = chosen
        problem = restore_problem(restore, found, self.clock())
        if problem is not None:
            raise LeapfrogError(
                f"cannot restore: {problem}",
                hint=f"`leapfrog backup list{self.where}` shows the Succeeded Backups",
            )
        lines = replaced_by(found, chosen, restore["spec"].get("pointInTime"))
        return RestorePlan(_store(found), found["metadata"]["name"], lines, restore)

    def restore(self, plan: RestorePlan, request: RunRequest, progress: Report | None) -> Outcome:
        made = self._create(plan.chosen)
        name = made["metadata"]["name"]
        if progress is not None:
            progress(f"created Restore {name}", None)
        body = {"action": "restore", "restore": name, "backup": plan.backup, "store": plan.store}
        if not request.wait:
            return Outcome("restore", plan.store, plan.backup, "started",
                           f"Restore {name} created", {**body, "state": "started"})  # fmt: skip
        final = self._follow("Restore", name, progress, request.timeout)
        status = _status(final)
        state = _FINAL[str(status.get("phase"))]
        return Outcome(
            "restore",
            plan.store,
            plan.backup,
            state,
            str(status.get("message") or ""),
            {
                **body,
                "state": state,
                "phase": status.get("phase"),
                "message": status.get("message"),
                "started": status.get("startTime"),
                "ended": status.get("completionTime"),
            },
        )


def _status(obj: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = obj.get("status") or {}
    return found


def _chosen(backup: dict[str, Any], choice: dict[str, tuple[str, ...]]) -> list[str]:
    """The names `--topic`, `--index` or `--database` give, when they are what the
    Backup's store chooses by."""
    kind = str(backup["spec"]["store"]["kind"])
    wanted = chooses_of(kind)
    for noun in choice:
        if noun != wanted:
            by = f"--{wanted}" if wanted else "nothing (it restores whole)"
            raise LeapfrogError(
                f"--{noun} does not choose in a {kind} backup: it is chosen by {by}",
                hint=f"leave --{noun} out" + (f", or use --{wanted}" if wanted else ""),
            )
    return [name for names in choice.values() for name in names]


def _store(obj: dict[str, Any]) -> str:
    return str(((obj.get("spec") or {}).get("store") or {}).get("service") or "")


def _summary(backup: dict[str, Any]) -> dict[str, Any]:
    """A Backup as `list --json` gives it: the local list's fields where they mean the
    same (id, store, kind, mode, chosen, started, ended, size, verified), and the
    object's own (name, schedule, phase, message, manifest). What its run took (size,
    raw_size, object_count, position_summary, as the local list names them) is None
    until the operator read it from the run's pod."""
    spec = backup.get("spec") or {}
    store = spec.get("store") or {}
    status = _status(backup)

    def count(key: str) -> int | None:
        found = status.get(key)
        return int(found) if found is not None else None

    return {
        "name": backup["metadata"]["name"],
        "id": status.get("backupId"),
        "store": store.get("service"),
        "kind": store.get("kind"),
        "mode": store.get("mode") or ("logical" if store.get("kind") == "postgres" else ""),
        "chosen": list(store.get("chosen") or []),
        "schedule": spec.get("schedule"),
        "phase": status.get("phase") or "Pending",
        "verified": verified_state(backup),
        "started": status.get("startTime"),
        "ended": status.get("completionTime"),
        "size": count("size"),
        "raw_size": count("rawSize"),
        "object_count": count("objects"),
        "position_summary": status.get("position"),
        "manifest": status.get("manifest"),
        "message": status.get("message"),
    }


def _window(schedule: dict[str, Any]) -> dict[str, Any]:
    status = _status(schedule)
    points = int(status.get("recoverablePoints") or 0)
    name = schedule["metadata"]["name"]
    note = f"{_store(schedule)} (schedule {name}): "
    continuous = bool(status.get("recoverableContinuous"))
    if points and continuous:
        note += (
            f"recoverable to any time from {_when(status.get('recoverableFrom'))} UTC on "
            f"(WAL archive; {points} base backups, the newest "
            f"{_when(status.get('recoverableTo'))} UTC)"
        )
    elif points:
        note += (
            f"recoverable to {points} points from {_when(status.get('recoverableFrom'))} "
            f"to {_when(status.get('recoverableTo'))} UTC"
        )
    else:
        note += "no verified backup yet"
    return {
        "name": name,
        "store": _store(schedule),
        "schedule": (schedule.get("spec") or {}).get("schedule"),
        "lastSuccessfulTime": status.get("lastSuccessfulTime"),
        "recoverableFrom": status.get("recoverableFrom"),
        "recoverableTo": status.get("recoverableTo"),
        "recoverablePoints": points,
        "recoverableContinuous": continuous,
        "note": note,
    }
