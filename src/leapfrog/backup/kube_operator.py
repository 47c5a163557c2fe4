"""The backup operator (kopf): `leapfrog backup operator`, the Deployment the `backups`
component renders on Kubernetes (docs/backup.md, "On Kubernetes").

- every BackupSchedule is looked at each `interval` seconds (a kopf timer); when one of
  its cron times is due, it creates the Backup of that time, named after it
  (`_kube_runs.backup_name`): a restarted operator finds it instead of making another;
- every Backup gets one Job (owned by it, `kopf.adopt`, named as the Backup: a second
  attempt finds the first);
- every change of such a Job is written into its Backup's status (phase, conditions,
  times, the reason of a failure) with an event on each transition;
- what the Job's pod took (its backup step's termination message: size, objects, the
  store's position) is written into the Backup's status too;
- every Backup it sees (all of them when it starts, then each change) feeds its
  Prometheus metrics (`_kube_metrics`), served with `/health` at `listen`.

Handlers are registered in a registry of their own (`registry(interval)`), so the CLI and
kopf's `KopfRunner` in the tests run exactly the same ones.
"""

from __future__ import annotations

import functools
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import kopf

from leapfrog.backup._kube_api import resource as _resource
from leapfrog.backup._kube_runs import (
    backup_for_slot,
    backup_id_for,
    backup_problem,
    due_slot,
    job_for,
    keep_objects,
    manifest_key,
    recoverability,
    restore_job_for,
    restore_problem,
    restore_state,
    run_state,
    summary_status,
)
from leapfrog.components._backups_kube import (
    BACKUP_LABEL,
    GROUP,
    PLURALS,
    RESTORE_LABEL,
    SCHEDULE_LABEL,
    VERSION,
)

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["registry", "run"]

FIELD_MANAGER = "leapfrog-backup-operator"


def _client() -> Client:
    return _client_for(os.environ.get("KUBECONFIG"))


@functools.cache
def _client_for(kubeconfig: str | None) -> Client:
    """One client per place the credentials come from, like kopf's login below: an
    operator started again with other credentials in the same process (the tests run
    several ServiceAccounts' operators one after another) must not act with the first's."""
    from lightkube import Client

    return Client(field_manager=FIELD_MANAGER)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _now() -> datetime:
    return datetime.now(UTC)


def _create(obj: dict[str, Any]) -> bool:
    """Create `obj`; False when it exists already (a run found again, not a new one)."""
    from lightkube.codecs import from_dict
    from lightkube.core.exceptions import ApiError

    if obj["kind"] in PLURALS:
        _resource(obj["kind"])
    try:
        _client().create(from_dict(obj))
    except ApiError as exc:
        if exc.status.code == 409:
            return False
        raise
    return True


def _found(kind: str, name: str, namespace: str | None) -> dict[str, Any] | None:
    """The object, or None when it is gone (deleted since the event)."""
    from lightkube.core.exceptions import ApiError

    try:
        found: dict[str, Any] = _client().get(_resource(kind), name, namespace=namespace).to_dict()
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise
    return found


def _set_status(kind: str, obj: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Merge `wanted` into the object's status; False when it says so already."""
    from lightkube.types import PatchType

    current = obj.get("status") or {}
    if all(current.get(key) == value for key, value in wanted.items()):
        return False
    meta = obj["metadata"]
    _client().patch(
        _resource(kind).Status,
        meta["name"],
        {"status": wanted},
        namespace=meta.get("namespace"),
        patch_type=PatchType.MERGE,
    )
    return True


def registry(
    interval: float, image: str, listen: tuple[str, int] | None = None
) -> kopf.OperatorRegistry:
    """The operator's handlers; `image` is what the run Jobs run (the leapfrog image);
    `listen`: where its `/metrics` and `/health` are served (None: nowhere)."""
    handlers = kopf.OperatorRegistry()
    _metrics(handlers, listen)
    _session(handlers)

    @kopf.timer(
        GROUP,
        VERSION,
        PLURALS["BackupSchedule"],
        interval=interval,
        registry=handlers,
        id="schedule",
    )
    def schedule(
        *,
        body: kopf.Body,
        spec: kopf.Spec,
        status: kopf.Status,
        meta: kopf.Meta,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        cron = spec.get("schedule")
        if not cron or spec.get("suspend"):
            return
        slot = due_slot(cron, _now(), _time(str(meta["creationTimestamp"])))
        if slot is None:
            return
        backup = backup_for_slot(dict(body), slot)
        name = backup["metadata"]["name"]
        if status.get("lastBackup") == name:
            return
        if _create(backup):
            kopf.info(body, reason="Scheduled", message=f"created Backup {name} for {cron}")
        patch.status["lastBackup"] = name
        patch.status["lastScheduleTime"] = backup["spec"]["slot"]

    @kopf.on.resume(GROUP, VERSION, PLURALS["Backup"], registry=handlers, id="job")
    @kopf.on.create(GROUP, VERSION, PLURALS["Backup"], registry=handlers, id="job")
    def start(
        *,
        body: kopf.Body,
        name: str,
        namespace: str | None,
        spec: kopf.Spec,
        status: kopf.Status,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        problem = backup_problem(dict(spec))
        if problem is not None:
            _refuse(body, patch, problem)
            return
        created = spec.get("slot") or body["metadata"]["creationTimestamp"]
        backup_id = status.get("backupId") or backup_id_for(name, _time(str(created)))
        meta = dict(body["metadata"])
        job = job_for(name, namespace or "default", dict(spec), image, backup_id, meta)
        kopf.adopt(job, owner=body)  # deleting the Backup deletes its Job
        if _create(job):
            kopf.info(body, reason="JobCreated", message=f"started Job {name}")
        # The phase is `follow`'s alone (from the Job), so the two never race.
        patch.status.update(
            {"job": name, "backupId": backup_id, "manifest": manifest_key(dict(spec), backup_id)}
        )

    @kopf.on.event(
        "batch", "v1", "jobs", labels={BACKUP_LABEL: kopf.PRESENT}, registry=handlers, id="follow"
    )
    def follow(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        name = body["metadata"]["labels"][BACKUP_LABEL]
        backup = _found("Backup", name, namespace)
        if backup is None:
            return
        current = backup.get("status") or {}
        state = run_state(
            dict(body.get("status") or {}), backup["spec"].get("verify", True), _now()
        )
        if not _set_status("Backup", backup, state.status()):
            return
        if current.get("phase") != state.phase:
            event = kopf.warn if state.phase == "Failed" else kopf.info
            event(cast("kopf.Body", backup), reason=state.phase, message=state.message)
            if backup["spec"].get("schedule") and state.phase in ("Succeeded", "Failed"):
                _finished(namespace, backup["spec"]["schedule"], state)

    _summaries(handlers)
    _restores(handlers, image)
    return handlers


def _refuse(body: kopf.Body, patch: kopf.Patch, problem: str) -> None:
    """A Backup or Restore that cannot run: Failed, saying why, and no Job."""
    patch.status["phase"] = "Failed"
    patch.status["message"] = problem
    patch.status["conditions"] = [
        {
            "type": "Completed",
            "status": "False",
            "reason": "Refused",
            "message": problem,
            "lastTransitionTime": _stamp(),
        }
    ]
    kopf.warn(body, reason="Refused", message=problem)


def _session(handlers: kopf.OperatorRegistry) -> None:
    """How kopf runs here: its settings, and its credentials."""

    @kopf.on.startup(registry=handlers, id="settings")
    def settings(*, settings: kopf.OperatorSettings, **_: Any) -> None:
        # It watches the namespaces it is given, by name: no cluster-wide scan of
        # namespaces and CRDs, which its namespaced Role does not allow.
        settings.scanning.disabled = True
        # kopf logs every timer run that did nothing on the object's logger, which it
        # also posts as an Event: one per schedule every interval. Runs that did
        # something say so with their own event.
        logging.getLogger("kopf.objects").addFilter(_quiet_timer)

    @kopf.on.login(registry=handlers, id="login")
    def login(**_: Any) -> kopf.ConnectionInfo:
        return _connection()


def _summaries(handlers: kopf.OperatorRegistry) -> None:
    """A run's pod says what it took (its backup step's termination message): its size,
    objects and position go into the Backup's status, once."""

    @kopf.on.event(
        "", "v1", "pods", labels={BACKUP_LABEL: kopf.PRESENT}, registry=handlers, id="summary"
    )
    def summary(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        backup = _found("Backup", body["metadata"]["labels"][BACKUP_LABEL], namespace)
        if backup is None:
            return
        found = summary_status(dict(body), (backup.get("status") or {}).get("backupId"))
        if found is not None:
            _set_status("Backup", backup, found)


def _restores(handlers: kopf.OperatorRegistry, image: str) -> None:
    """A Restore runs one Job (or is refused, saying why); the Job's outcome becomes its
    status, as a Backup's does."""

    @kopf.on.resume(GROUP, VERSION, PLURALS["Restore"], registry=handlers, id="restore")
    @kopf.on.create(GROUP, VERSION, PLURALS["Restore"], registry=handlers, id="restore")
    def restore(
        *,
        body: kopf.Body,
        name: str,
        namespace: str | None,
        spec: kopf.Spec,
        status: kopf.Status,
        patch: kopf.Patch,
        **_: Any,
    ) -> None:
        from lightkube.core.exceptions import ApiError

        if status.get("phase") in ("Succeeded", "Failed"):
            return
        try:
            backup = _client().get(_resource("Backup"), spec["backup"], namespace=namespace)
            found: dict[str, Any] | None = backup.to_dict()
        except ApiError as exc:
            if exc.status.code != 404:
                raise
            found = None
        created = _time(str(body["metadata"]["creationTimestamp"]))
        problem = restore_problem(dict(body), found, created)
        if problem is not None or found is None:
            _refuse(body, patch, str(problem))
            return
        point = spec.get("pointInTime")
        job = restore_job_for(name, namespace or "default", found, image, spec.get("chosen"), point)
        kopf.adopt(job, owner=body)
        if _create(job):
            kopf.info(body, reason="JobCreated", message=f"started restore Job {name}")
        patch.status["job"] = name

    @kopf.on.event(
        "batch",
        "v1",
        "jobs",
        labels={RESTORE_LABEL: kopf.PRESENT},
        registry=handlers,
        id="follow-restore",
    )
    def follow_restore(*, body: kopf.Body, namespace: str | None, **_: Any) -> None:
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        restore_obj = _found("Restore", body["metadata"]["labels"][RESTORE_LABEL], namespace)
        if restore_obj is None:
            return
        current = restore_obj.get("status") or {}
        state = restore_state(dict(body.get("status") or {}), _now())
        if not _set_status("Restore", restore_obj, state.status()):
            return
        if current.get("phase") != state.phase:
            event = kopf.warn if state.phase == "Failed" else kopf.info
            event(cast("kopf.Body", restore_obj), reason=state.phase, message=state.message)


def _metrics(handlers: kopf.OperatorRegistry, listen: tuple[str, int] | None) -> None:
    """The metrics' page from startup to cleanup, and every Backup event into them."""
    from leapfrog.backup._kube_metrics import OperatorMetrics

    metrics = OperatorMetrics()
    servers: list[Any] = []

    @kopf.on.event(GROUP, VERSION, PLURALS["Backup"], registry=handlers, id="metrics")
    def count(*, type: str | None, body: kopf.Body, **_: Any) -> None:
        if type == "DELETED":
            meta = body.get("metadata") or {}
            metrics.gone(str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        else:
            metrics.seen(dict(body))

    if listen is None:
        return

    @kopf.on.startup(registry=handlers, id="serve-metrics")
    def serve(**_: Any) -> None:
        from leapfrog.shared.health_server import serve_health

        def health() -> dict[str, Any]:
            return {"ok": True, "detail": "the backup operator is running"}

        servers.append(serve_health(health, metrics.registry(), listen, "operator-metrics"))

    @kopf.on.cleanup(registry=handlers, id="stop-metrics")
    def stop(**_: Any) -> None:
        while servers:
            server = servers.pop()
            server.shutdown()
            server.server_close()


def _stamp() -> str:
    return _now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _quiet_timer(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Timer 'schedule' succeeded")


def _connection() -> kopf.ConnectionInfo:
    """kopf's credentials from the same place lightkube takes them: $KUBECONFIG (or
    ~/.kube/config), else the pod's service account. Called again when the API server
    answers 401, so a rotated service-account token is read anew."""
    import base64

    from lightkube.config.kubeconfig import KubeConfig

    config = KubeConfig.from_env().get()
    if config is None:
        raise kopf.PermanentError("no kubeconfig context and no service account to log in with")
    cluster, user = config.cluster, config.user
    token = user.token if user else None
    if user and not token and user.token_file:
        token = Path(user.token_file).read_text(encoding="utf-8").strip()
    ca_data = (
        base64.b64decode(cluster.certificate_auth_data) if cluster.certificate_auth_data else None
    )
    return kopf.ConnectionInfo(
        server=cluster.server,
        ca_path=cluster.certificate_auth,
        ca_data=ca_data,
        insecure=cluster.insecure,
        token=token,
        certificate_path=user.client_cert if user else None,
        private_key_path=user.client_key if user else None,
        default_namespace=config.namespace,
    )


def _finished(namespace: str | None, schedule: str, state: Any) -> None:
    """A scheduled run ended: its schedule's Backup objects the retention rules do not
    keep are deleted (their Jobs with them; the run's `prune` step deleted their stored
    objects by the same rules), and the schedule's status shows its last success and
    its recoverability window."""
    from lightkube.core.exceptions import ApiError
    from lightkube.types import PatchType

    try:
        found = _client().get(_resource("BackupSchedule"), schedule, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:  # the schedule was removed since: nothing to record
            return
        raise
    owner = found.to_dict()
    runs = [
        b.to_dict()
        for b in _client().list(
            _resource("Backup"), namespace=namespace, labels={SCHEDULE_LABEL: schedule}
        )
    ]
    retention = owner["spec"].get("retention") or {}
    doomed = keep_objects(runs, retention)
    for name in doomed:
        try:
            _client().delete(_resource("Backup"), name, namespace=namespace)
        except ApiError as exc:
            if exc.status.code != 404:
                raise
    if doomed:
        kopf.info(
            owner,
            reason="Pruned",
            message=f"deleted Backups {', '.join(doomed)} (retention: keep last "
            f"{retention.get('keepLast', 7)})",
        )
    status: dict[str, Any] = recoverability(
        [r for r in runs if r["metadata"]["name"] not in doomed]
    )
    if state.phase == "Succeeded":
        status["lastSuccessfulTime"] = state.completion
    _client().patch(
        _resource("BackupSchedule").Status,
        schedule,
        {"status": status},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


def run(namespace: str, interval: float, image: str, listen: tuple[str, int] | None = None) -> None:
    """Run the operator in `namespace` until stopped (SIGTERM/SIGINT). Standalone: one
    replica (the Deployment's Recreate strategy), so no peering objects are needed."""
    kopf.run(
        registry=registry(interval, image, listen),
        standalone=True,
        clusterwide=False,
        namespaces=[namespace],
    )
