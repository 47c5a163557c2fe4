"""`leapfrog rollout history|undo|pause|resume|status --target kubernetes` on a real control
plane: the Deployment controller makes a ReplicaSet per revision, history lists them,
undo puts revision 1's template back (the controller numbers it 3), pause and resume flip
spec.paused, and the next apply takes the stack file's template back."""

from __future__ import annotations

import json
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
