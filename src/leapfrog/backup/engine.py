"""The engine: the same honest rules for every store's backups.

- One run per store at a time (an exclusive, non-blocking lock; the kernel drops it
  when the process dies, so a kill -9 never leaves the store locked).
- A backup is `succeeded` only when the driver finished, every object was read back
  and matched its sha256, and the manifest was written, read back and is complete.
  No objects, or no bytes, is `failed: empty`. Anything else is `failed` with the reason.
- The manifest is written last: objects without a manifest (a run that died) are never
  listed as a backup, and are removed by the next run of that store.
- Every run has a deadline and fails when it makes no progress (control.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from leapfrog.backup._objects import (
    ObjectReader,
    ObjectWriter,
    backup_prefix,
    check_keys,
    check_object,
    object_key,
    shared_prefix,
)
from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupDriver, BackupError, Store
from leapfrog.backup.history import History, RunRecord
from leapfrog.backup.manifest import (
    MANIFEST,
    Manifest,
    is_backup_id,
    new_backup_id,
    parse_manifest,
)
from leapfrog.backup.retention import Policy, plan_prune
from leapfrog.backup.storage import Storage
from leapfrog.shared.errors import LeapfrogError

__all__ = ["BackupBusy", "Engine", "Limits", "judge_objects"]

Progress = Callable[[str, int], None]
"""(what, bytes so far): for progress bars."""


class BackupBusy(LeapfrogError):
    """Another run holds the store's lock."""


@dataclass(frozen=True)
class Limits:
    deadline: float = 6 * 3600.0
    """Seconds a run may take in all."""
    stall_after: float = 300.0
    """Seconds without progress after which a run fails."""


def judge_objects(written: int, raw_bytes: int, problems: Sequence[str]) -> str | None:
    """Why the objects do not make a backup (the status rule), or None."""
    if written == 0:
        return "empty: the driver wrote no object"
    if raw_bytes == 0:
        return "empty: every object has 0 bytes"
    if problems:
        return "read-back failed: " + "; ".join(problems)
    return None


class Engine:
    """Runs of one store: `state_dir` keeps the lock and the history."""

    def __init__(  # noqa: PLR0917
        self,
        store: Store,
        driver: BackupDriver,
        storage: Storage,
        state_dir: Path,
        limits: Limits = Limits(),
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.driver = driver
        self.storage = storage
        self.state_dir = state_dir
        self.limits = limits
        self.history = History(state_dir, store.name)
        self._progress = progress
        self._record: RunRecord | None = None

    # -- locking and runs ---------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self, action: str) -> Iterator[None]:
        lock_dir = self.state_dir / self.store.name
        lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(lock_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                running = [r for r in self.history.records() if r.state == "running"]
                who = f" ({running[-1].action} by pid {running[-1].pid})" if running else ""
                raise BackupBusy(
                    f"another backup run of {self.store.name} is in progress{who}; "
                    f"this {action} was refused",
                    hint="wait for it to end (`leapfrog backup list` shows it)",
                ) from None
            yield
        finally:
            os.close(fd)

    def _control(self) -> RunControl:
        def report(what: str, done: int) -> None:
            record = self._record
            if record is not None and done - record.bytes >= 8 << 20:
                self._record = record.model_copy(update={"bytes": done})
                self.history.save(self._record)
            if self._progress is not None:
                self._progress(what, done)

        temp = self.state_dir / self.store.name / "tmp"  # under the lock: no run uses it
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(mode=0o700, parents=True)
        return RunControl(
            deadline=self.limits.deadline,
            stall_after=self.limits.stall_after,
            on_progress=report,
            temp_dir=temp,
        )

    # -- listing ------------------------------------------------------------------
    def backups(self) -> list[Manifest]:
        """Complete backups of this store, oldest first."""
        found = []
        prefix = f"{self.store.name}/backups/"
        for key in self.storage.keys(prefix):
            if not key.endswith("/" + MANIFEST):
                continue
            try:
                raw = b"".join(self.storage.get(key))
            except LeapfrogError:
                continue
            manifest = parse_manifest(raw)
            if (
                manifest is not None
                and key == backup_prefix(manifest.store, manifest.id) + MANIFEST
            ):
                found.append(manifest)
        return sorted(found, key=lambda m: m.ended)

    def find(self, backup_id: str | None) -> Manifest:
        backups = self.backups()
        if not backups:
            raise LeapfrogError(
                f"{self.store.name} has no backup in {self.storage.description}",
                hint=f"make one: leapfrog backup run {self.store.name}",
            )
        if backup_id is None:
            return backups[-1]
        for manifest in backups:
            if manifest.id == backup_id:
                return manifest
        raise LeapfrogError(
            f"{self.store.name} has no backup {backup_id}",
            hint=f"see `leapfrog backup list {self.store.name}`",
        )

    def _remove_partial(self, backups: Sequence[Manifest] | None = None) -> list[str]:
        """Objects of runs that never wrote a manifest (under the lock only); `backups`:
        the complete ones when just listed."""
        backups = self.backups() if backups is None else backups
        complete = {backup_prefix(m.store, m.id) for m in backups}
        removed = self.storage.abandon(f"{self.store.name}/backups/")
        for key in self.storage.keys(f"{self.store.name}/backups/"):
            prefix = key.rsplit("/", 1)[0] + "/"
            if prefix not in complete:
                self.storage.delete(key)
                removed.append(key)
        return removed + self._remove_unshared(backups)

    def _remove_unshared(self, kept: Sequence[Manifest]) -> list[str]:
        """Shared objects no backup of `kept` refers to (under the lock only)."""
        prefix = shared_prefix(self.store.name)
        removed = self.storage.abandon(prefix)
        used = {object_key(m, e) for m in kept for e in m.objects if e.shared}
        for key in self.storage.keys(prefix):
            if key not in used:
                self.storage.delete(key)
                removed.append(key)
        return removed

    # -- backup -------------------------------------------------------------------
    def run_backup(
        self, mode: str | None = None, compress: bool = True, backup_id: str | None = None
    ) -> RunRecord:
        """A new backup; `backup_id` names it (the Kubernetes operator gives each Backup
        object's run its own): when a backup of that id is complete already (an earlier
        attempt of the same run), nothing is taken again and the run says so."""
        if backup_id is not None and not is_backup_id(backup_id):
            raise LeapfrogError(
                f"{backup_id!r} is not a backup id", hint="e.g. 20261205T231500Z-3fa2"
            )
        chosen = mode or self.driver.modes[0]
        if chosen not in self.driver.modes:
            raise LeapfrogError(
                f"{self.driver.kind} has no backup mode {chosen!r}",
                hint=f"modes: {', '.join(self.driver.modes)}",
            )
        with self._locked("backup"):
            self.history.records()  # turns runs that died into failed ones
            if backup_id is not None:
                taken = next((m for m in self.backups() if m.id == backup_id), None)
                if taken is not None:
                    record = self.history.start(
                        new_backup_id(), self.store.name, "backup", mode=taken.mode
                    )
                    done = record.model_copy(update={"backup": taken.id, "bytes": taken.raw_size})
                    return self.history.finish(
                        done, "succeeded", "taken already by an earlier attempt"
                    )
            backup_id = backup_id or new_backup_id()
            record = self.history.start(backup_id, self.store.name, "backup", mode=chosen)
            self._record = record
            try:
                backups = self.backups()
                self._remove_partial(backups)
                self.storage.check()
                same_mode = [m for m in backups if m.mode == chosen]
                previous = same_mode[-1] if same_mode else None
                manifest = self._take(backup_id, chosen, compress, record.started, previous)
            except Exception as exc:  # every failure becomes the run's reason
                self._remove_backup(backup_id)
                with contextlib.suppress(Exception):
                    self._remove_unshared(self.backups())
                return self.history.finish(self._current(record), "failed", _reason(exc))
            done = self._current(record).model_copy(
                update={"backup": backup_id, "bytes": manifest.raw_size}
            )
            return self.history.finish(done, "succeeded")

    def _current(self, record: RunRecord) -> RunRecord:
        return self._record or record

    def _take(
        self,
        backup_id: str,
        mode: str,
        compress: bool,
        started: datetime,
        previous: Manifest | None,
    ) -> Manifest:
        prefix = backup_prefix(self.store.name, backup_id)
        run = self._control()
        run.start()
        try:
            writer = ObjectWriter(self.storage, self.store.name, backup_id, compress, run, previous)
            try:
                taken = self.driver.backup(self.store, mode, writer, run)
                run.check()
                problems = writer.read_back()
            finally:
                writer.close()
        finally:
            run.close()
        raw = sum(e.raw_size for e in writer.written)
        why = judge_objects(len(writer.written), raw, problems)
        if why is not None:
            raise BackupError(why)
        manifest = Manifest(
            id=backup_id,
            store=self.store.name,
            kind=self.driver.kind,
            mode=mode,
            store_version=taken.store_version,
            started=started,
            ended=datetime.now(UTC),
            position=taken.position,
            objects=writer.written,
            facts=taken.facts,
            chosen=list(self.driver.only),
        )
        text = manifest.model_dump_json(indent=1).encode()
        self.storage.put(prefix + MANIFEST, [text])
        if parse_manifest(b"".join(self.storage.get(prefix + MANIFEST))) != manifest:
            raise BackupError("the manifest read back differs from the one written")
        return manifest

    def _remove_backup(self, backup_id: str) -> None:
        with contextlib.suppress(Exception):
            for key in self.storage.keys(backup_prefix(self.store.name, backup_id)):
                self.storage.delete(key)

    # -- verify -------------------------------------------------------------------
    def check_objects(self, manifest: Manifest, run: RunControl | None = None) -> list[str]:
        """Every object's sha256, and the keys of encrypted ones."""
        problems = []
        for entry in manifest.objects:
            prefix = object_key(manifest, entry).removesuffix(entry.name)
            if problem := check_object(self.storage, prefix, entry, run):
                problems.append(problem)
        return problems + check_keys(self.storage, manifest)

    def verify(self, backup_id: str | None = None) -> RunRecord:
        with self._locked("verify"):
            manifest = self.find(backup_id)
            record = self.history.start(
                new_backup_id(), self.store.name, "verify", mode=manifest.mode, backup=manifest.id
            )
            self._record = record
            run = self._control()
            run.start()
            problems = self.check_objects(manifest, run)
            if problems:
                run.close()
                return self.history.finish(self._current(record), "failed", "; ".join(problems))
            scratch = Path(tempfile.mkdtemp(prefix=f"lf-verify-{self.store.name}-"))
            scratch.chmod(0o755)
            try:
                source = ObjectReader(self.storage, manifest, run)
                result = self.driver.verify(self.store, source, self.storage, scratch, run)
            except Exception as exc:  # every failure becomes the run's reason
                return self.history.finish(self._current(record), "failed", _reason(exc))
            finally:
                run.close()
                shutil.rmtree(scratch, ignore_errors=True)
            done = self._current(record).model_copy(update={"details": result.facts})
            return self.history.finish(done, "succeeded" if result.ok else "failed", result.detail)

    # -- restore ------------------------------------------------------------------
    def plan_restore(
        self, backup_id: str | None, to: datetime | None
    ) -> tuple[Manifest, list[str]]:
        if backup_id is not None:
            manifest = self.find(backup_id)
        else:
            self.find(None)  # no backup at all: say so
            chosen = self.driver.choose(self.backups(), to)
            if chosen is None:
                raise LeapfrogError(
                    f"no backup of {self.store.name} ended before {to:%Y-%m-%d %H:%M:%S}",
                    hint=f"see `leapfrog backup list {self.store.name}`",
                )
            manifest = chosen
        return manifest, self.driver.replaces(self.store, manifest, to)

    def restore(self, manifest: Manifest, to: datetime | None) -> RunRecord:
        with self._locked("restore"):
            record = self.history.start(
                new_backup_id(), self.store.name, "restore", mode=manifest.mode, backup=manifest.id
            )
            self._record = record
            run = self._control()
            run.start()
            # Every object is checked before anything is touched, unless the driver
            # checks them as it reads and puts the store back when one is bad.
            if self.driver.checks_as_it_restores(manifest):
                problems = check_keys(self.storage, manifest)
            else:
                problems = self.check_objects(manifest, run)
            if problems:
                run.close()
                return self.history.finish(self._current(record), "failed", "; ".join(problems))
            try:
                source = ObjectReader(self.storage, manifest, run)
                summary = self.driver.restore(self.store, source, self.storage, to, run)
            except Exception as exc:  # every failure becomes the run's reason
                return self.history.finish(self._current(record), "failed", _reason(exc))
            finally:
                run.close()
            return self.history.finish(self._current(record), "succeeded", summary)

    # -- prune --------------------------------------------------------------------
    def prune(self, policy: Policy) -> RunRecord:
        """Delete what `policy` does not keep (retention.py), then list the storage again
        and fail unless exactly the kept backups are left."""
        with self._locked("prune"):
            record = self.history.start(new_backup_id(), self.store.name, "prune")
            try:
                self._remove_partial()
                backups = self.backups()
                verified: dict[str, bool | None] = {}
                for manifest in backups:
                    check = self.history.verification(manifest.id)
                    verified[manifest.id] = None if check is None else check.state == "succeeded"
                plan = plan_prune(backups, policy, verified)
                for manifest in plan.delete:
                    self._remove_backup(manifest.id)
                removed_extra = self.driver.prune(self.store, self.storage, plan.keep)
                removed_extra += self._remove_unshared(plan.keep)
                left = {m.id for m in self.backups()}
                if left != {m.id for m in plan.keep}:
                    raise BackupError(
                        f"after pruning the storage holds {sorted(left)}, "
                        f"expected {sorted(m.id for m in plan.keep)}"
                    )
            except Exception as exc:  # every failure becomes the run's reason
                return self.history.finish(record, "failed", _reason(exc))
            done = record.model_copy(
                update={
                    "details": {
                        "policy": policy.describe(),
                        "kept": [m.id for m in plan.keep],
                        "why": plan.why,
                        "deleted": [m.id for m in plan.delete],
                        "other_objects_removed": len(removed_extra),
                    }
                }
            )
            return self.history.finish(done, "succeeded")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, LeapfrogError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
