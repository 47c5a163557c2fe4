"""The Kubernetes runtime: the stack rendered to manifests, applied with server-side
apply (and pruned by label), and rollouts watched until they complete."""

from leapfrog.runtime.kubernetes._render import Rendered, kube_context, render_stack

__all__ = ["Rendered", "kube_context", "render_stack"]
