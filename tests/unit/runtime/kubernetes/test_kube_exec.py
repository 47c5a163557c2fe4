"""`exec --target kubernetes` without a cluster: which pods a name chooses, and the exit
code read from the exec API's final Status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leapfrog.runtime.kubernetes import PodTarget, choose_pods
from leapfrog.runtime.kubernetes._exec import _exit
from leapfrog.shared.errors import LeapfrogError


def _pod(name: str, app: str, component: str = "service", phase: str = "Running") -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/part-of": "shop",
        "app.kubernetes.io/component": component,
    }
    containers = [{"name": "lb-template"}, {"name": app}] if app == "lb" else [{"name": app}]
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": containers},
        "status": {"phase": phase},
    }


PODS = [
    _pod("web-7d9f-b", "web"),
    _pod("web-7d9f-a", "web"),
    _pod("web-7d9f-c", "web", phase="Pending"),
    _pod("kafka-0", "kafka", component="kafka"),
    _pod("lb-5c-x", "lb", component="lb"),
    {
        **_pod("other-1", "web"),
        "metadata": {"name": "other-1", "labels": {"app.kubernetes.io/part-of": "blog"}},
    },
]


def test_a_service_name_chooses_its_running_pods_in_name_order() -> None:
    assert choose_pods(PODS, "shop", ["web"], False) == [
        PodTarget("web-7d9f-a", "web", "web"),
        PodTarget("web-7d9f-b", "web", "web"),
    ]


def test_a_canarys_pods_are_the_services() -> None:
    canary = _pod("web-canary-5f-a", "web-canary")
    canary["metadata"]["labels"] |= {"leapfrog.dev/track": "canary",
                                     "leapfrog.dev/canary-of": "web"}  # fmt: skip
    canary["spec"]["containers"] = [{"name": "web"}]
    assert choose_pods([*PODS, canary], "shop", ["web"], False) == [
        PodTarget("web-7d9f-a", "web", "web"),
        PodTarget("web-7d9f-b", "web", "web"),
        PodTarget("web-canary-5f-a", "web", "web"),
    ]


def test_a_pod_name_chooses_that_pod_and_its_units_container() -> None:
    assert choose_pods(PODS, "shop", ["kafka-0", "lb-5c-x"], False) == [
        PodTarget("kafka-0", "kafka", "kafka"),
        PodTarget("lb-5c-x", "lb", "lb"),
    ]


def test_all_is_every_services_pods_of_this_stack_only() -> None:
    assert [t.pod for t in choose_pods(PODS, "shop", [], True)] == ["web-7d9f-a", "web-7d9f-b"]


def test_an_unknown_name_says_what_runs() -> None:
    with pytest.raises(LeapfrogError) as refused:
        choose_pods(PODS, "shop", ["api"], False)
    assert "'api'" in refused.value.message
    assert "kafka, lb, web" in (refused.value.hint or "")


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        ({"status": "Success"}, 0, None),
        (
            {
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
            },
            3,
            None,
        ),
        (
            {"status": "Failure", "message": 'exec: "nope": executable file not found in $PATH'},
            None,
            'exec: "nope": executable file not found in $PATH',
        ),
    ],
)
def test_the_exit_code_comes_from_the_final_status(
    status: dict[str, Any], code: int | None, error: str | None
) -> None:
    assert _exit(json.dumps(status)) == (code, error)


def test_no_status_is_said() -> None:
    assert _exit("") == (None, "the exec API closed without a status")
