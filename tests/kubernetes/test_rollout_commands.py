"""`leapfrog rollout history|undo|pause|resume|status --target kubernetes` on a real control
plane: the Deployment controller makes a ReplicaSet per revision, history lists them,
undo puts revision 1's template back (the controller numbers it 3), pause and resume flip
spec.paused, and the next apply takes the stack file's template back."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from leapfrog.testing import CliResult, ControlPlane, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

NAMESPACE = "rollouts"


def _stack(version: str, greeting: str) -> dict[str, Any]:
    return {
        "name": "roll",
        "catalog": {"enabled": False},
        "kubernetes": {"namespace": NAMESPACE},
        "services": {
            "web": {
                "command": "sleep 1000",
                "image": "registry.example.com/web",
                "version": version,
                "replicas": 2,
                "env": {"GREETING": greeting},
            },
        },
    }


def _deployment(plane: ControlPlane) -> Any:
    out = plane.kubectl("get", "-n", NAMESPACE, "deployment", "web", "-o", "json").stdout
    return json.loads(out)


def _image(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def test_history_undo_pause_resume_on_a_deployment(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    stack = tmp_path / "leapfrog.yaml"

    def run(*args: str) -> CliResult:
        return run_cli(
            *args, "-f", str(stack), "--kubeconfig", str(control_plane.kubeconfig), timeout=240
        )

    def ok(*args: str) -> CliResult:
        result = run(*args)
        assert result.code == 0, result.output
        return result

    def rolled_out() -> dict[str, Any]:
        out = ok("rollout", "status", "web", "--target", "kubernetes", "--json", "--timeout", "3m")
        final: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
        assert final["phase"] == "complete" and final["done"], final
        return final

    def history() -> dict[str, Any]:
        out = ok("rollout", "history", "web", "--target", "kubernetes", "--json")
        body: dict[str, Any] = json.loads(out.stdout)
        return body

    try:
        stack.write_text(yaml.safe_dump(_stack("1.0.0", "hello")))
        ok("apply")
        rolled_out()
        stack.write_text(yaml.safe_dump(_stack("1.1.0", "bonjour")))
        ok("apply")
        final = rolled_out()
        assert final["current"] == 2
        assert {i["revision"] for i in final["instances"]} <= {2}, final["instances"]

        body = history()
        assert body["current"] == 2
        revisions = {r["number"]: r for r in body["revisions"]}
        assert sorted(revisions) == [1, 2]
        assert revisions[1]["version"] == "1.0.0" and revisions[2]["version"] == "1.1.0"
        assert revisions[1]["images"] == ["registry.example.com/web:1.0.0"]
        assert {r["cause"] for r in revisions.values()} == {"leapfrog apply"}
        assert revisions[2]["outcome"] == "complete"
        table = ok("rollout", "history", "web", "--target", "kubernetes").stdout
        assert "2 (current)" in table and "1.0.0" in table

        # Undo: revision 1's template goes back; the controller numbers it 3.
        undone = json.loads(ok("rollout", "undo", "web", "--target", "kubernetes", "--json").stdout)
        assert undone["undone"] is True and undone["revision"] == 1
        rolled_out()
        deployment = _deployment(control_plane)
        assert _image(deployment) == "registry.example.com/web:1.0.0"
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "GREETING", "value": "hello"} in env
        body = history()
        assert body["current"] == 3
        revisions = {r["number"]: r for r in body["revisions"]}
        assert sorted(revisions) == [2, 3]
        assert revisions[3]["version"] == "1.0.0"
        assert revisions[3]["cause"] == "leapfrog rollout undo to revision 1"

        # Nothing to undo to a revision not kept; the running one is a no-op.
        missing = run("rollout", "undo", "web", "--target", "kubernetes", "--to-revision", "9")
        assert missing.code == 1 and "web has no revision 9" in missing.output
        assert "Traceback" not in missing.output
        same = ok("rollout", "undo", "web", "--target", "kubernetes", "--to-revision", "3")
        assert "already runs revision 3" in same.stdout

        # Pause and resume flip spec.paused; a paused rollout's status says so, exit 0.
        ok("rollout", "pause", "web", "--target", "kubernetes")
        assert _deployment(control_plane)["spec"].get("paused") is True
        status = ok("rollout", "status", "web", "--target", "kubernetes", "--no-watch", "--json")
        assert json.loads(status.stdout)["phase"] == "paused"
        again = run("rollout", "pause", "web", "--target", "kubernetes")
        assert again.code == 1 and "already paused" in again.output
        ok("rollout", "resume", "web", "--target", "kubernetes")
        assert not _deployment(control_plane)["spec"].get("paused")

        # The next apply takes the stack file's template (and cause) back: revision 4.
        ok("apply")
        rolled_out()
        deployment = _deployment(control_plane)
        assert _image(deployment) == "registry.example.com/web:1.1.0"
        body = history()
        assert body["current"] == 4
        latest = next(r for r in body["revisions"] if r["number"] == 4)
        assert latest["cause"] == "leapfrog apply" and latest["version"] == "1.1.0"

        unknown = run("rollout", "history", "nothing", "--target", "kubernetes")
        assert unknown.code == 1
        assert "no Deployment or StatefulSet named nothing in namespace rollouts" in (
            unknown.output
        )
    finally:
        control_plane.kubectl("delete", "namespace", NAMESPACE, "--wait=false")


# -- canaries, auto_revert, StatefulSets -------------------------------------------------


class Cli:
    """`leapfrog ... -f STACK --kubeconfig K` on the session's control plane, the stack
    file rewritten by `write`."""

    def __init__(self, plane: ControlPlane, directory: Path, namespace: str) -> None:
        self.plane, self.namespace = plane, namespace
        self.stack = directory / "leapfrog.yaml"

    def write(self, web: dict[str, Any], **extra: Any) -> None:
        service = {"command": "sleep 1000", "image": "registry.example.com/web", "port": 8000,
                   "replicas": 2, **web}  # fmt: skip
        data = {
            "name": "roll",
            "catalog": {"enabled": False},
            "kubernetes": {"namespace": self.namespace},
            "services": {"web": service},
            **extra,
        }
        self.stack.write_text(yaml.safe_dump(data))

    def run(self, *args: str) -> CliResult:
        return run_cli(
            *args, "-f", str(self.stack), "--kubeconfig", str(self.plane.kubeconfig), timeout=240
        )

    def ok(self, *args: str) -> CliResult:
        result = self.run(*args)
        assert result.code == 0, result.output
        return result

    def get(self, *args: str) -> Any:
        out = self.plane.kubectl("get", "-n", self.namespace, *args, "-o", "json").stdout
        return json.loads(out)

    def deployment(self, name: str) -> dict[str, Any] | None:
        found = self.plane.kubectl(
            "get", "-n", self.namespace, "deployment", name, "-o", "json", check=False
        )
        return json.loads(found.stdout) if found.returncode == 0 else None

    def status(self) -> dict[str, Any]:
        out = self.ok("rollout", "status", "web", "--target", "kubernetes", "--json",
                      "--timeout", "3m").stdout  # fmt: skip
        final: dict[str, Any] = json.loads(out.splitlines()[-1])
        return final

    def delete(self) -> None:
        self.plane.kubectl("delete", "namespace", self.namespace, "--wait=false", check=False)


def _ready_endpoints(cli: Cli) -> set[str]:
    """The pods the Service `web` sends to (its EndpointSlices' ready endpoints)."""
    slices = cli.get("endpointslices", "-l", "kubernetes.io/service-name=web")["items"]
    return {
        e["targetRef"]["name"]
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready")
    }


def _pods(cli: Cli, selector: str) -> set[str]:
    return {p["metadata"]["name"] for p in cli.get("pods", "-l", selector)["items"]}


def test_a_canary_beside_the_deployment_promoted_and_undone(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    cli = Cli(control_plane, tmp_path, "canaries")
    try:
        cli.write({"version": "1.0.0", "rollout": {"canary": 1}})
        cli.ok("apply", "--wait", "3m")
        cli.write({"version": "2.0.0", "rollout": {"canary": 1}})
        applied = cli.ok("apply", "--wait", "3m")
        assert "deployment/web-canary created" in applied.stdout
        assert "rollout promote web --target kubernetes" in applied.stdout
        stable, canary = cli.deployment("web"), cli.deployment("web-canary")
        assert stable is not None and canary is not None
        assert _image(stable) == "registry.example.com/web:1.0.0"
        assert _image(canary) == "registry.example.com/web:2.0.0"
        assert canary["spec"]["replicas"] == 1

        # The canary's pod is not the stable Deployment's, but the Service sends to it.
        final = cli.status()
        assert final["phase"] == "paused" and final["canary"]["ready"] == 1, final
        canaries = {i["name"] for i in final["instances"] if i.get("canary")}
        stables = _pods(cli, "app.kubernetes.io/name=web")
        assert len(canaries) == 1 and len(stables) == 2 and not canaries & stables
        assert _pods(cli, "leapfrog.dev/track=canary") == canaries
        deadline = time.monotonic() + 60
        while _ready_endpoints(cli) != stables | canaries and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _ready_endpoints(cli) == stables | canaries
        # The same stack again keeps the canary as it is.
        again = cli.ok("apply")
        assert "deployment/web-canary unchanged" in again.stdout

        promoted = cli.ok("rollout", "promote", "web", "--target", "kubernetes", "--json")
        assert json.loads(promoted.stdout)["promoted"] == "web-canary"
        assert cli.deployment("web-canary") is None
        stable = cli.deployment("web")
        assert stable is not None and _image(stable) == "registry.example.com/web:2.0.0"
        history = json.loads(
            cli.ok("rollout", "history", "web", "--target", "kubernetes", "--json").stdout
        )
        assert history["current"] == 2
        assert history["revisions"][-1]["cause"] == "leapfrog rollout promote of web-canary"
        # The stack file is what runs now: the next apply changes no template.
        after = cli.ok("apply")
        assert "web-canary" not in after.stdout

        # Undo takes a canary away and leaves the Deployment as it is.
        cli.write({"version": "3.0.0", "rollout": {"canary": 1}})
        cli.ok("apply")
        assert cli.deployment("web-canary") is not None
        undone = cli.ok("rollout", "undo", "web", "--target", "kubernetes")
        assert "canary web-canary removed" in undone.stdout
        assert "web stays on revision 2" in undone.stdout
        assert cli.deployment("web-canary") is None
        stable = cli.deployment("web")
        assert stable is not None and _image(stable) == "registry.example.com/web:2.0.0"
    finally:
        cli.delete()


def test_promote_after_and_auto_revert_in_apply_wait(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    cli = Cli(control_plane, tmp_path, "autorollouts")
    try:
        rollout = {"canary": 1, "promote_after": "3s"}
        cli.write({"version": "1.0.0", "rollout": rollout})
        cli.ok("apply", "--wait", "3m")
        cli.write({"version": "2.0.0", "rollout": rollout})
        applied = cli.ok("apply", "--wait", "3m")
        assert "promoting it once its pods have been ready for 3s" in applied.stdout
        assert "web: canary promoted after 3s ready" in applied.stdout
        assert cli.deployment("web-canary") is None
        stable = cli.deployment("web")
        assert stable is not None and _image(stable) == "registry.example.com/web:2.0.0"

        # A version whose pods never start (no node has 64 CPUs) misses its deadline:
        # apply --wait rolls it back to revision 2 and fails, saying why.
        cli.write({"version": "3.0.0", "resources": {"cpu": "64"},
                   "rollout": {"progress_deadline": "5s"}})  # fmt: skip
        failed = cli.run("apply", "--wait", "3m")
        assert failed.code == 1, failed.output
        assert 'deployment "web" exceeded its progress deadline' in failed.output
        assert "auto_revert rolled back to revision 2" in failed.output
        assert "Traceback" not in failed.output
        stable = cli.deployment("web")
        assert stable is not None and _image(stable) == "registry.example.com/web:2.0.0"
        assert cli.status()["phase"] == "complete"

        # Without auto_revert the failed rollout stays where it is.
        cli.write({"version": "3.0.0", "resources": {"cpu": "64"},
                   "rollout": {"progress_deadline": "5s", "auto_revert": False}})  # fmt: skip
        kept = cli.run("apply", "--wait", "3m")
        assert kept.code == 1 and "auto_revert is off" in kept.output, kept.output
        stable = cli.deployment("web")
        assert stable is not None and _image(stable) == "registry.example.com/web:3.0.0"
    finally:
        cli.delete()


def test_history_and_undo_of_a_stateful_set(control_plane: ControlPlane, tmp_path: Path) -> None:
    cli = Cli(control_plane, tmp_path, "setrollouts")
    volumes = {"volumes": {"data": {"size": "64Mi"}}}
    try:
        cli.write({"version": "1.0.0", "volumes": ["data"]}, **volumes)
        cli.ok("apply", "--wait", "3m")
        cli.write({"version": "1.1.0", "volumes": ["data"], "env": {"A": "b"}}, **volumes)
        cli.ok("apply", "--wait", "3m")
        final = cli.status()
        assert final["kind"] == "StatefulSet" and final["current"] == 2, final
        assert {i["revision"] for i in final["instances"]} == {2}, final["instances"]

        body = json.loads(
            cli.ok("rollout", "history", "web", "--target", "kubernetes", "--json").stdout
        )
        revisions = {r["number"]: r for r in body["revisions"]}
        assert sorted(revisions) == [1, 2] and body["current"] == 2
        assert revisions[1]["version"] == "1.0.0" and revisions[2]["version"] == "1.1.0"
        assert revisions[1]["controller_revision"].startswith("web-")
        assert revisions[2]["cause"] == "leapfrog apply"

        undone = cli.ok("rollout", "undo", "web", "--target", "kubernetes")
        assert "web: rolling back to revision 1" in undone.stdout
        final = cli.status()
        assert final["current"] == 3 and final["phase"] == "complete", final
        sts = cli.get("statefulset", "web")
        assert _image(sts) == "registry.example.com/web:1.0.0"
        env = sts["spec"]["template"]["spec"]["containers"][0]["env"]
        assert not any(e["name"] == "A" for e in env)
        body = json.loads(
            cli.ok("rollout", "history", "web", "--target", "kubernetes", "--json").stdout
        )
        # The controller renumbers revision 1's ControllerRevision: 2 and 3 are left.
        assert sorted(r["number"] for r in body["revisions"]) == [2, 3]

        paused = cli.run("rollout", "pause", "web", "--target", "kubernetes")
        assert paused.code == 1
        assert "kubectl refuses `rollout pause` on a StatefulSet" in paused.output
    finally:
        cli.delete()


def _pod_images(cli: Cli) -> dict[str, str]:
    """Each pod of web and the image it runs."""
    pods = cli.get("pods", "-l", "app.kubernetes.io/name=web")["items"]
    return {p["metadata"]["name"]: str(p["spec"]["containers"][0]["image"]) for p in pods}


def _partition(cli: Cli) -> int:
    strategy = cli.get("statefulset", "web")["spec"]["updateStrategy"]
    return int(strategy.get("rollingUpdate", {}).get("partition", 0))


def test_a_stateful_set_canary_promoted_and_undone(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    cli = Cli(control_plane, tmp_path, "setcanaries")
    volumes = {"volumes": {"data": {"size": "64Mi"}}}
    image = "registry.example.com/web"

    def write(version: str) -> None:
        cli.write({"version": version, "volumes": ["data"], "replicas": 3,
                   "rollout": {"canary": 1}}, **volumes)  # fmt: skip

    try:
        write("1.0.0")
        cli.ok("apply", "--wait", "3m")
        assert set(_pod_images(cli).values()) == {f"{image}:1.0.0"}
        write("2.0.0")
        applied = cli.ok("apply", "--wait", "3m")
        assert "statefulset/web configured" in applied.stdout
        assert "1 pod(s) of the new template on the highest ordinals" in applied.stdout
        assert _partition(cli) == 2

        # The highest ordinal runs the new revision, the others the old one.
        final = cli.status()
        assert final["phase"] == "paused" and final["canary"]["pods"] == ["web-2"], final
        assert {i["name"]: i["revision"] for i in final["instances"]} == {
            "web-0": 1, "web-1": 1, "web-2": 2}  # fmt: skip
        assert _pod_images(cli) == {"web-0": f"{image}:1.0.0", "web-1": f"{image}:1.0.0",
                                    "web-2": f"{image}:2.0.0"}  # fmt: skip
        # The same stack again keeps the partition: nothing is promoted.
        again = cli.ok("apply")
        assert "statefulset/web unchanged" in again.stdout and _partition(cli) == 2
        history = json.loads(
            cli.ok("rollout", "history", "web", "--target", "kubernetes", "--json").stdout
        )
        assert history["canary"]["revision"] == 2 and history["canary"]["instances"] == ["web-2"]
        assert history["canary"]["waits_for"] == "promote" and history["canary"]["since"] > 0
        text = cli.ok("rollout", "history", "web", "--target", "kubernetes").stdout
        assert "waits for `leapfrog rollout promote web --target kubernetes`" in " ".join(
            text.split()
        )

        promoted = cli.ok("rollout", "promote", "web", "--target", "kubernetes", "--json")
        answer = json.loads(promoted.stdout)
        assert answer["promoted"] == "revision 2" and answer["phase"] == "complete", answer
        assert set(_pod_images(cli).values()) == {f"{image}:2.0.0"} and _partition(cli) == 0
        assert "canary" not in cli.status()

        # Canary -> undo: the canary's pod goes back, the others never moved.
        write("3.0.0")
        cli.ok("apply", "--wait", "3m")
        assert _pod_images(cli)["web-2"] == f"{image}:3.0.0"
        undone = cli.ok("rollout", "undo", "web", "--target", "kubernetes")
        assert "web: canary revision 3 on web-2 removed" in undone.stdout, undone.output
        final = cli.status()
        assert final["phase"] == "complete" and "canary" not in final, final
        assert set(_pod_images(cli).values()) == {f"{image}:2.0.0"} and _partition(cli) == 0
    finally:
        cli.delete()


def _set_writer(cli: Cli, replicas: int) -> Callable[..., None]:
    """Writes web as a StatefulSet of `replicas` (a per-instance volume): its version,
    rollout and any other fields."""
    volumes = {"volumes": {"data": {"size": "64Mi"}}}

    def write(version: str, rollout: dict[str, Any], **extra: Any) -> None:
        cli.write({"version": version, "volumes": ["data"], "replicas": replicas,
                   "rollout": rollout, **extra}, **volumes)  # fmt: skip

    return write


def test_a_stateful_set_canary_by_promote_after_and_auto_revert(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    cli = Cli(control_plane, tmp_path, "setautorollouts")
    image = "registry.example.com/web"
    write = _set_writer(cli, 3)

    try:
        promoting = {"canary": 1, "promote_after": "3s"}
        write("1.0.0", promoting)
        cli.ok("apply", "--wait", "3m")
        write("2.0.0", promoting)
        applied = cli.ok("apply", "--wait", "3m")
        assert "web: canary revision 2 on web-2 ready; promoting it" in applied.stdout
        assert "web: canary promoted after 3s ready" in applied.stdout
        assert set(_pod_images(cli).values()) == {f"{image}:2.0.0"} and _partition(cli) == 0

        # A canary whose pod never starts (no node has 64 CPUs) fails 5 s after it was
        # made: apply --wait puts web-2 back on revision 2 and fails, saying why.
        write("3.0.0", {"canary": 1, "progress_deadline": "5s"}, resources={"cpu": "64"})
        failed = cli.run("apply", "--wait", "3m")
        assert failed.code == 1, failed.output
        assert "pod web-2 not ready" in failed.output and "progress_deadline 5s" in failed.output
        assert "auto_revert removed the canary revision 3 on web-2" in failed.output
        assert "Traceback" not in failed.output
        assert cli.status()["phase"] == "complete"
        assert set(_pod_images(cli).values()) == {f"{image}:2.0.0"} and _partition(cli) == 0
    finally:
        cli.delete()


def test_a_stateful_set_rolling_update_past_its_deadline_auto_reverted(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """No canary: the rolling update itself, undone as a Deployment past its deadline."""
    cli = Cli(control_plane, tmp_path, "setrevert")
    image = "registry.example.com/web"
    write = _set_writer(cli, 2)

    try:
        write("1.0.0", {})
        cli.ok("apply", "--wait", "3m")
        assert set(_pod_images(cli).values()) == {f"{image}:1.0.0"}

        # The highest ordinal is replaced first and never starts (no node has 64 CPUs):
        # 5 s after it was made apply --wait undoes the StatefulSet to revision 1, the
        # controller replaces the stuck pod, and apply fails saying why.
        write("2.0.0", {"progress_deadline": "5s"}, resources={"cpu": "64"})
        failed = cli.run("apply", "--wait", "3m")
        assert failed.code == 1, failed.output
        said = " ".join(failed.output.split())
        assert "statefulset/web: pod web-1 not ready" in said, said
        assert "progress_deadline 5s" in said and "auto_revert rolled back to revision 1" in said
        assert "Traceback" not in failed.output
        assert cli.status()["phase"] == "complete"
        assert _pod_images(cli) == {"web-0": f"{image}:1.0.0", "web-1": f"{image}:1.0.0"}
        body = json.loads(
            cli.ok("rollout", "history", "web", "--target", "kubernetes", "--json").stdout
        )
        # Revision 1's ControllerRevision, renumbered by the controller, runs again.
        current = {r["number"]: r for r in body["revisions"]}[body["current"]]
        assert body["current"] == 3 and current["version"] == "1.0.0", body["revisions"]
    finally:
        cli.delete()
