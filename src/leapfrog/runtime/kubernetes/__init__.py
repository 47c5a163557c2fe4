"""The Kubernetes runtime: the stack rendered to manifests, applied with server-side
apply (and pruned by label), rollouts watched until they complete, and commands run in
the stack's pods; a service's canary, auto_revert and promote_after acted on by apply."""

from leapfrog.runtime.kubernetes._apply import FIELD_MANAGER, Change, apply_rendered, connect
from leapfrog.runtime.kubernetes._exec import PodTarget, choose_pods, exec_in_pods
from leapfrog.runtime.kubernetes._files import to_yaml, write_parts
from leapfrog.runtime.kubernetes._render import Rendered, kube_context, render_stack
from leapfrog.runtime.kubernetes._rollout import RolloutStatus, rollout_status, status_of
from leapfrog.runtime.kubernetes._rollouts import KubeRollouts
from leapfrog.runtime.kubernetes._wait import wait_rollouts

__all__ = [
    "FIELD_MANAGER",
    "Change",
    "KubeRollouts",
    "PodTarget",
    "Rendered",
    "RolloutStatus",
    "apply_rendered",
    "choose_pods",
    "connect",
    "exec_in_pods",
    "kube_context",
    "render_stack",
    "rollout_status",
    "status_of",
    "to_yaml",
    "wait_rollouts",
    "write_parts",
]
