"""The Kubernetes runtime: the stack rendered to manifests, applied with server-side
apply (and pruned by label), and rollouts watched until they complete."""

from leapfrog.runtime.kubernetes._apply import FIELD_MANAGER, Change, apply_rendered, connect
from leapfrog.runtime.kubernetes._files import to_yaml, write_parts
from leapfrog.runtime.kubernetes._render import Rendered, kube_context, render_stack
from leapfrog.runtime.kubernetes._rollout import RolloutStatus, rollout_status, status_of

__all__ = [
    "FIELD_MANAGER",
    "Change",
    "Rendered",
    "RolloutStatus",
    "apply_rendered",
    "connect",
    "kube_context",
    "render_stack",
    "rollout_status",
    "status_of",
    "to_yaml",
    "write_parts",
]
