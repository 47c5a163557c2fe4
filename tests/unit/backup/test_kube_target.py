"""`leapfrog backup list|run|restore --target kubernetes` against a fake API server (an
httpx transport answering as the API does for the leapfrog.dev kinds): the objects
created, how a run is followed, the refusals and errors, and the command line."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from lightkube import Client

from leapfrog.backup.kube_target import KubeBackups
from leapfrog.backup.target import RunRequest
from leapfrog.cli import main
from leapfrog.runtime import kubernetes
from leapfrog.shared.errors import LeapfrogError
from tests.unit.fake_cluster import fake_config

NS = "shop"
API = f"/apis/leapfrog.dev/v1alpha1/namespaces/{NS}"
NOW = datetime(2026, 12, 6, 17, 30, 5, tzinfo=UTC)


def schedule(store: str) -> dict[str, Any]:
    return {
        "apiVersion": "leapfrog.dev/v1alpha1",
        "kind": "BackupSchedule",
        "metadata": {"name": store, "namespace": NS, "labels": {"app.kubernetes.io/part-of": NS}},
        "spec": {
            "store": {"kind": store, "service": store},
            "storage": {"pvc": {"claimName": f"backups-{store}"}},
            "schedule": "0 3 * * *",
            "verify": True,
            "retention": {"keepLast": 7},
        },
        "status": {
            "recoverableFrom": "2026-12-01T03:00:40Z",
            "recoverableTo": "2026-12-06T03:00:40Z",
            "recoverablePoints": 6,
        },
    }


def backup(
    name: str, store: str, phase: str, end: str | None = None, took: dict[str, Any] | None = None
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "backupId": f"id-{name}", "message": phase.lower()}
    status |= took or {}
    if end:
        status |= {"startTime": end.replace(":40Z", ":01Z"), "completionTime": end}
        ok = "True" if phase == "Succeeded" else "False"
        reason = "Restored" if phase == "Succeeded" else "NoBackup"
        status["conditions"] = [{"type": "Verified", "status": ok, "reason": reason}]
    return {
        "apiVersion": "leapfrog.dev/v1alpha1",
        "kind": "Backup",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "store": {"kind": store, "service": store},
            "storage": {"pvc": {"claimName": f"backups-{store}"}},
            "schedule": store,
        },
        "status": status,
    }


@dataclass
class FakeApi:
    """The leapfrog.dev kinds of one namespace; each GET of a created object moves it a
    phase further along `phases`, as the operator would."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {
            "backupschedules": {"postgres": schedule("postgres"), "kafka": schedule("kafka")},
            "backups": {
                b["metadata"]["name"]: b
                for b in [
                    backup(
                        "postgres-202612050300", "postgres", "Succeeded", "2026-12-05T03:00:40Z"
                    ),
                    backup(
                        "postgres-202612060300",
                        "postgres",
                        "Succeeded",
                        "2026-12-06T03:00:40Z",
                        {
                            "size": 3 * 1024 * 1024,
                            "rawSize": 9_000_000,
                            "objects": 4,
                            "position": "LSN 0/3000028..0/3000100 timeline 1",
                        },
                    ),
                    backup("kafka-202612060300", "kafka", "Failed", "2026-12-06T03:10:40Z"),
                    backup("zk", "zookeeper", "Succeeded", "2026-12-06T03:10:40Z"),
                ]
            },
            "restores": {},
        }
    )
    phases: list[tuple[str, str]] = field(
        default_factory=lambda: [
            ("", ""),
            ("Pending", "waiting for the Job's pod to start"),
            ("Running", "the Job's pod is running"),
            ("Succeeded", "the backup was written, read back and verified"),
        ]
    )
    created: list[dict[str, Any]] = field(default_factory=list)
    crds: bool = True

    def client(self) -> Client:
        config = fake_config()
        return Client(config=config, transport=httpx2.MockTransport(self.handle))

    @staticmethod
    def _status(code: int, reason: str, message: str) -> httpx2.Response:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}  # fmt: skip
        return httpx2.Response(code, json=body)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        assert path.startswith(f"{API}/"), path
        if not self.crds:
            return self._status(404, "NotFound", "the server could not find the requested resource")
        plural, _, name = path[len(API) + 1 :].partition("/")
        kept = self.objects[plural]
        if request.method == "POST":
            obj = json.loads(request.content)
            if obj["metadata"]["name"] in kept:
                return self._status(409, "AlreadyExists", "exists")
            obj["metadata"]["creationTimestamp"] = "2026-12-06T17:30:05Z"
            kept[obj["metadata"]["name"]] = obj
            self.created.append(obj)
            return httpx2.Response(201, json=obj)
        if not name:
            kind = plural[:-1].capitalize()
            return httpx2.Response(
                200,
                json={
                    "apiVersion": "leapfrog.dev/v1alpha1",
                    "kind": f"{kind}List",
                    "metadata": {},
                    "items": list(kept.values()),
                },
            )
        if name not in kept:
            return self._status(404, "NotFound", f"{plural} {name} not found")
        obj = kept[name]
        if obj in self.created and self.phases:
            phase, message = self.phases.pop(0)
            if phase:
                obj["status"] = {"phase": phase, "message": message}
                if phase == "Succeeded":
                    obj["status"] |= {"completionTime": "2026-12-06T17:31:00Z"}
        return httpx2.Response(200, json=obj)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def target(api: FakeApi) -> KubeBackups:
    return KubeBackups(api.client(), NS, interval=0.0, clock=lambda: NOW)


def test_list_gives_the_backup_objects_and_the_windows(api: FakeApi) -> None:
    listing = target(api).listing("postgres")
    names = [b["name"] for b in listing.body["backups"]]
    assert names == ["postgres-202612050300", "postgres-202612060300"]
    first = listing.body["backups"][0]
    assert first["id"] == "id-postgres-202612050300"
    assert (first["phase"], first["verified"], first["schedule"]) == (
        "Succeeded",
        "succeeded",
        "postgres",
    )
    assert first["ended"] == "2026-12-05T03:00:40Z" and first["size"] is None
    assert (first["object_count"], first["position_summary"]) == (None, None)  # not read yet
    second = listing.body["backups"][1]
    assert (second["size"], second["raw_size"], second["object_count"]) == (3145728, 9_000_000, 4)
    assert second["position_summary"] == "LSN 0/3000028..0/3000100 timeline 1"
    (window,) = listing.body["schedules"]
    assert window["recoverablePoints"] == 6
    assert listing.notes == [
        "postgres (schedule postgres): recoverable to 6 points from 2026-12-01 03:00:40 to "
        "2026-12-06 03:00:40 UTC"
    ]
    (table,) = listing.tables
    assert table.rows[0][:5] == (
        "postgres-202612050300",
        "postgres",
        "postgres",
        "Succeeded",
        "succeeded",
    )
    assert table.rows[1][5:] == ("2026-12-06 03:00:40", "3.0 MB", "4", "id-postgres-202612060300",
                                  "LSN 0/3000028..0/3000100 timeline 1")  # fmt: skip
    assert table.rows[0][6:] == ("", "", "id-postgres-202612050300", "")
    everything = target(api).listing(None)
    failed = next(b for b in everything.body["backups"] if b["phase"] == "Failed")
    assert failed["verified"] is None  # no backup was there to verify


def test_run_creates_the_schedules_backup_and_follows_it(api: FakeApi) -> None:
    said: list[str] = []
    outcome = target(api).run(
        "postgres",
        RunRequest(deadline=600, choice={"database": ("shop",)}),
        lambda w, _: said.append(w),
    )
    (made,) = api.created
    assert made["metadata"]["name"] == "postgres-20261206173005"
    assert made["metadata"]["labels"]["leapfrog.dev/schedule"] == "postgres"
    assert made["spec"]["schedule"] == "postgres" and "slot" not in made["spec"]
    assert made["spec"]["deadlineSeconds"] == 600
    assert made["spec"]["store"]["chosen"] == ["shop"]
    assert made["spec"]["retention"] == {"keepLast": 7}  # its schedule's retention counts it
    assert (outcome.state, outcome.backup, outcome.failed) == (
        "succeeded",
        made["metadata"]["name"],
        False,
    )
    assert said == [
        "created Backup postgres-20261206173005",
        "Backup postgres-20261206173005: Pending: waiting for the Job's pod to start",
        "Backup postgres-20261206173005: Running: the Job's pod is running",
        "Backup postgres-20261206173005: Succeeded: the backup was written, read back and verified",
    ]
    assert outcome.body["phase"] == "Succeeded" and outcome.body["state"] == "succeeded"


def test_a_failed_run_is_failed(api: FakeApi) -> None:
    api.phases = [("Failed", "DeadlineExceeded: Job was active longer than specified deadline")]
    outcome = target(api).run("kafka", RunRequest(), None)
    assert outcome.failed and outcome.reason.startswith("DeadlineExceeded")


def test_no_wait_returns_once_created(api: FakeApi) -> None:
    outcome = target(api).run("kafka", RunRequest(wait=False), None)
    assert outcome.state == "started" and not outcome.failed
    assert len(api.phases) == 4  # never read back


def test_a_store_without_schedule_and_local_only_options_are_refused(api: FakeApi) -> None:
    with pytest.raises(LeapfrogError) as caught:
        target(api).run("influxdb", RunRequest(), None)
    assert (
        "no BackupSchedule backs up influxdb in namespace shop (stores with one: kafka, postgres)"
        in str(caught.value)
    )
    assert "`backups:`" in str(caught.value.hint)
    with pytest.raises(LeapfrogError) as caught:
        target(api).run(None, RunRequest(), None)
    assert "name the store" in str(caught.value)
    with pytest.raises(LeapfrogError) as caught:
        target(api).run("postgres", RunRequest(mode="physical"), None)
    assert "--mode is for local backups" in str(caught.value)
    assert api.created == []


def test_a_run_no_operator_takes_says_so(api: FakeApi) -> None:
    api.phases = [("", "")] * 1000
    slow = KubeBackups(api.client(), NS, interval=0.001, unclaimed_after=0.05, clock=lambda: NOW)
    with pytest.raises(LeapfrogError) as caught:
        slow.run("kafka", RunRequest(), None)
    assert "no backup operator took Backup kafka-20261206173005" in str(caught.value)
    assert "get deployment backup-operator" in str(caught.value.hint)


def test_restore_plans_from_a_backup_name_an_id_or_the_stores_newest(api: FakeApi) -> None:
    kube = target(api)
    plan = kube.plan_restore("postgres", None, RunRequest())
    assert plan.backup == "postgres-202612060300"  # the newest Succeeded
    assert plan.lines[0].startswith("replaces databases (every one the backup holds) on postgres")
    assert "id-postgres-202612060300" in plan.lines[-1]
    assert (
        kube.plan_restore("postgres-202612050300", None, RunRequest()).backup
        == "postgres-202612050300"
    )
    assert (
        kube.plan_restore(None, "id-postgres-202612050300", RunRequest()).backup
        == "postgres-202612050300"
    )
    outcome = kube.restore(plan, RunRequest(), None)
    (made,) = api.created
    assert made["kind"] == "Restore" and made["spec"] == {"backup": "postgres-202612060300"}
    assert made["metadata"]["name"] == "postgres-202612060300-r20261206173005"
    assert outcome.state == "succeeded" and outcome.body["restore"] == made["metadata"]["name"]


def test_a_restore_chooses_what_the_local_one_would(api: FakeApi) -> None:
    api.objects["backups"]["kafka-ok"] = backup(
        "kafka-ok", "kafka", "Succeeded", "2026-12-06T04:00:40Z"
    )
    kube = target(api)
    plan = kube.plan_restore("kafka-ok", None, RunRequest(choice={"topic": ("orders", "pay*")}))
    assert plan.chosen["spec"] == {"backup": "kafka-ok", "chosen": ["orders", "pay*"]}
    assert plan.lines[0].startswith("deletes and recreates topics (orders, pay*) on kafka")
    for store, choice, expected in [
        ("kafka-ok", {"database": ("shop",)}, "--database does not choose in a kafka backup: "
         "it is chosen by --topic"),
        ("postgres", {"index": ("logs-*",)}, "--index does not choose in a postgres backup"),
    ]:  # fmt: skip
        with pytest.raises(LeapfrogError) as caught:
            kube.plan_restore(store, None, RunRequest(choice=choice))
        assert expected in str(caught.value)
    assert api.created == []


def test_restore_refusals_say_why(api: FakeApi) -> None:
    kube = target(api)
    for store, backup_name, expected in [
        (None, "nosuch", "there is no Backup nosuch in namespace shop"),
        ("kafka", None, "kafka has no Succeeded Backup in namespace shop"),
        (None, "kafka-202612060300", "Backup kafka-202612060300 is Failed, not Succeeded"),
        ("zk", None, "a zookeeper restore reaches the server's files"),
        (
            "kafka",
            "postgres-202612060300",
            "Backup postgres-202612060300 is of postgres, not of kafka",
        ),
    ]:
        with pytest.raises(LeapfrogError) as caught:
            kube.plan_restore(store, backup_name, RunRequest())
        assert expected in str(caught.value), (store, backup_name, str(caught.value))
    when = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    with pytest.raises(LeapfrogError) as caught:
        kube.plan_restore("postgres", None, RunRequest(to=when))
    assert "pointInTime needs a physical PostgreSQL backup" in str(caught.value)
    assert api.created == []


def test_no_crds_and_an_unreachable_cluster_are_sentences(api: FakeApi) -> None:
    api.crds = False
    with pytest.raises(LeapfrogError) as caught:
        target(api).listing(None)
    assert "CustomResourceDefinitions are not installed" in str(caught.value)

    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    config = fake_config()
    gone = KubeBackups(Client(config=config, transport=httpx2.MockTransport(down)), NS)
    with pytest.raises(LeapfrogError) as caught:
        gone.listing(None)
    assert "cannot reach the cluster to list the Backups: connection refused" in str(caught.value)
    assert "kubectl cluster-info" in str(caught.value.hint)


@pytest.fixture
def cli(api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text(f"name: shop\nkubernetes: {{namespace: {NS}}}\n")
    monkeypatch.setattr(kubernetes, "connect", lambda _config, _context: api.client())

    def run(*args: str) -> int:
        try:
            return main([*args, "-f", str(stack)])
        except SystemExit as exc:
            return int(exc.code or 0)

    return run


def test_cli_list_json_and_table(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("backup", "list", "postgres", "--target", "kubernetes", "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["namespace"] == NS and len(body["backups"]) == 2
    assert cli("backup", "list", "--target", "kubernetes") == 0
    out = capsys.readouterr().out
    assert "kafka-202612060300" in out and "Failed" in out
    assert "OBJECTS" in out and "POSITION" in out and "3.0 MB" in out
    assert "note: postgres (schedule postgres): recoverable to 6 points" in out


def test_cli_run_and_restore(cli: Any, api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("backup", "run", "postgres", "-n", NS, "--json") == 0
    body = json.loads(capsys.readouterr().out)
    assert body["state"] == "succeeded" and body["name"].startswith("postgres-")
    api.phases = [("Failed", "BackoffLimitExceeded: Job has reached the specified backoff limit")]
    assert cli("backup", "run", "kafka", "--target", "kubernetes") == 1
    assert "BackoffLimitExceeded" in capsys.readouterr().out
    # a restore says what it replaces and asks first: without a terminal, --yes is needed
    assert cli("backup", "restore", "postgres-202612050300", "--target", "kubernetes") == 1
    captured = capsys.readouterr()
    assert "restore replaces databases" in captured.err and "add --yes" in captured.err
    api.phases = [("Succeeded", "the backup was put back")]
    assert cli("backup", "restore", "postgres-202612050300", "--target", "kubernetes", "--yes") == 0
    assert "restore postgres-202612050300 of postgres: succeeded" in capsys.readouterr().out


def test_cli_errors_are_sentences(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("backup", "run", "influxdb", "--target", "kubernetes") == 1
    err = capsys.readouterr().err
    assert "no BackupSchedule backs up influxdb" in err and "Traceback" not in err
    assert cli("backup", "restore", "--backup", "nosuch", "--target", "kubernetes", "--yes") == 1
    err = capsys.readouterr().err
    assert "there is no Backup nosuch in namespace shop" in err and "Traceback" not in err
    assert cli("backup", "run", "postgres", "--no-wait") == 1  # local: --no-wait is refused
    assert "--no-wait is for --target kubernetes" in capsys.readouterr().err


def test_a_point_in_time_restore_picks_the_newest_physical_backup_ended_by_then(
    api: FakeApi,
) -> None:
    data = {"claimName": "data-postgres-0", "runAsUser": 999}
    for name, end in [("pg-a", "2026-12-05T03:00:40Z"), ("pg-b", "2026-12-06T03:00:40Z")]:
        made = backup(name, "pgphys", "Succeeded", end)
        made["spec"]["store"] |= {"kind": "postgres", "mode": "physical", "data": data}
        api.objects["backups"][name] = made
    kube = target(api)
    when = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    plan = kube.plan_restore("pgphys", None, RunRequest(to=when))
    assert plan.backup == "pg-a"  # pg-b ended after the point
    assert plan.chosen["spec"] == {"backup": "pg-a", "pointInTime": "2026-12-06T02:00:00Z"}
    assert "recovered to 2026-12-06 02:00:00 UTC from the WAL archive" in plan.lines[0]
    assert "--replicas=0" in plan.lines[1]
    latest = kube.plan_restore("pgphys", None, RunRequest())
    assert latest.backup == "pg-b" and "to the newest archived WAL" in latest.lines[0]
    with pytest.raises(LeapfrogError) as caught:
        kube.plan_restore("pgphys", None, RunRequest(to=datetime(2026, 12, 1, tzinfo=UTC)))
    assert "no Succeeded Backup of pgphys ended by 2026-12-01T00:00:00Z" in str(caught.value)
    with pytest.raises(LeapfrogError) as caught:  # a Backup named: its window says
        kube.plan_restore(None, "pg-b", RunRequest(to=when))
    assert "is before Backup pg-b ended" in str(caught.value)
    with pytest.raises(LeapfrogError) as caught:
        kube.plan_restore(None, "pg-b", RunRequest(to=datetime(2026, 12, 7, tzinfo=UTC)))
    assert "is in the future" in str(caught.value)
    assert api.created == []


def test_a_continuous_window_says_any_time_from_its_start(api: FakeApi) -> None:
    api.objects["backupschedules"]["postgres"]["status"]["recoverableContinuous"] = True
    listing = target(api).listing("postgres")
    (window,) = listing.body["schedules"]
    assert window["recoverableContinuous"] is True
    assert listing.notes == [
        "postgres (schedule postgres): recoverable to any time from 2026-12-01 03:00:40 UTC "
        "on (WAL archive; 6 base backups, the newest 2026-12-06 03:00:40 UTC)"
    ]
