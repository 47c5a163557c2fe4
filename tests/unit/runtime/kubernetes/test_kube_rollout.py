"""Rollout judgments as `kubectl rollout status` makes them, and the commands' surface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lightkube.resources.apps_v1 import Deployment, StatefulSet

from leapfrog.cli import main
from leapfrog.cli.app import cli
from leapfrog.runtime.kubernetes._rollout import _deployment, _stateful_set


def deployment(generation: int = 2, **status: Any) -> Deployment:
    return Deployment.from_dict(
        {
            "metadata": {"name": "web", "generation": generation},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, **status},
        }
    )


@pytest.mark.parametrize(
    ("status", "done", "message"),
    [
        ({"updatedReplicas": 2, "replicas": 2, "availableReplicas": 2}, True, "successfully"),
        ({"updatedReplicas": 1, "replicas": 3, "availableReplicas": 2}, False, "1 of 2 updated"),
        ({"updatedReplicas": 2, "replicas": 3, "availableReplicas": 2}, False, "1 old replicas"),
        ({"updatedReplicas": 2, "replicas": 2, "availableReplicas": 1}, False, "1 of 2 updated"),
    ],
)
def test_deployment_rollout(status: dict[str, int], done: bool, message: str) -> None:
    judged = _deployment(deployment(**status))
    assert judged.done is done
    assert message in judged.message


def test_a_deployment_not_yet_observed_is_not_done() -> None:
    obj = deployment(generation=3, updatedReplicas=2, replicas=2, availableReplicas=2)
    judged = _deployment(obj)
    assert not judged.done and "observed" in judged.message


def test_a_deployment_past_its_deadline_has_failed() -> None:
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    judged = _deployment(deployment(conditions=[condition]))
    assert judged.failed and "deadline" in judged.message


def test_stateful_set_waits_for_the_update_revision() -> None:
    def sts(**status: Any) -> StatefulSet:
        return StatefulSet.from_dict(
            {
                "metadata": {"name": "db", "generation": 1},
                "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "db"},
                "status": {"observedGeneration": 1, "replicas": 1, **status},
            }
        )

    ready = {"readyReplicas": 1, "updatedReplicas": 1}
    assert not _stateful_set(sts(**ready, currentRevision="a", updateRevision="b")).done
    assert _stateful_set(sts(**ready, currentRevision="b", updateRevision="b")).done
    assert (
        "0 of 1 pods ready" in _stateful_set(sts(currentRevision="b", updateRevision="b")).message
    )


@pytest.mark.parametrize("command", [["render"], ["apply"], ["rollout"], ["rollout", "status"]])
def test_every_kubernetes_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_apply_without_a_kubeconfig_says_what_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text("services:\n  web: {command: x, image: reg.example/web}\n")
    missing = tmp_path / "nothing"
    assert main(["apply", "-f", str(stack), "--kubeconfig", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no kubeconfig at {missing}" in err and "--kubeconfig" in err


def test_rollout_refuses_other_kinds(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )
    code = main(["rollout", "status", "daemonset/x", "-n", "ns", "--kubeconfig", str(config)])
    assert code == 1
    assert "cannot watch the rollout of a daemonset" in capsys.readouterr().err
