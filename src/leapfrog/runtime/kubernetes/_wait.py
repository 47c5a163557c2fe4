"""`leapfrog apply --wait`: every Deployment and StatefulSet followed until rolled out, and
each service's `rollout:` acted on meanwhile, as the local supervisor does:

* auto_revert (the default): a Deployment past its progress deadline (a StatefulSet: a
  pod of its new revision not Ready by `progress_deadline`, _set_canary.py) is undone to
  its previous revision (the same patch as `leapfrog rollout undo`; a StatefulSet's
  controller then replaces the stuck pod itself, as the render's Parallel pod
  management does not wait for it: no forced rollback), a canary past its own is
  removed (NAME-canary deleted; a StatefulSet's canary pods put back on the revision the
  others run, partition released: _set_canary.py); apply says why and fails.
* canary with promote_after: once every canary pod has been Ready for that long (a pod
  that stops being Ready starts the period again), the canary is promoted (as `leapfrog
  rollout promote`); without promote_after the canary waits for that command.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from leapfrog.runtime.kubernetes._render import Rendered
from leapfrog.runtime.kubernetes._rollout import rollout_status
from leapfrog.runtime.kubernetes._rollouts import KubeRollouts, last
from leapfrog.shared.errors import LeapfrogError
from leapfrog.spec import RolloutSpec

if TYPE_CHECKING:
    from lightkube import Client

__all__ = ["wait_rollouts"]

Say = Callable[[str], None]


def wait_rollouts(
    client: Client,
    rendered: Rendered,
    *,
    timeout: float,
    say: Say = lambda _line: None,
    interval: float = 0.5,
) -> None:
    """Follow every workload of the stack (up to `timeout` each; a canary's promote_after
    comes on top); LeapfrogError naming each service whose rollout failed (reverted or
    not), after the others were followed."""
    rollouts = KubeRollouts(client, rendered.namespace, list(rendered.rollouts), interval)
    failures: list[str] = []
    for obj in rendered.objects:
        kind, name = obj["kind"], obj["metadata"]["name"]
        if kind not in ("Deployment", "StatefulSet"):
            continue
        plan = rendered.rollouts.get(name)
        if plan is None:
            done = rollout_status(
                client, rendered.namespace, f"{kind.lower()}/{name}", timeout=timeout
            )
            say(done.message)
            continue
        failure = _settle(rollouts, name, plan, timeout, say)
        if failure is not None:
            failures.append(failure)
    if failures:
        raise LeapfrogError(
            "; ".join(failures),
            hint="`leapfrog rollout history NAME --target kubernetes` lists the revisions; "
            "fix the stack file and apply again",
        )


def _settle(
    rollouts: KubeRollouts, name: str, plan: RolloutSpec, timeout: float, say: Say
) -> str | None:
    """One service's Deployment (and canary) until rolled out: None, or why it failed."""
    final = last(rollouts.follow(name, timeout))
    if final["phase"] == "failed":
        return _revert(rollouts, name, plan, final, timeout, say)
    if final.get("canary") is None or final["paused"]:
        say(final["message"])
        return None
    if plan.promote_after is None:
        say(f"{name}: {final['message']}")
        return None
    period = plan.promote_after
    say(
        f"{name}: canary {final['canary']['title']} ready; promoting it once its pods have been "
        f"ready for {period:g}s (promote_after)"
    )
    deadline = time.monotonic() + period + timeout
    while True:
        seen = rollouts.status(name)
        if seen["phase"] == "failed":
            return _revert(rollouts, name, plan, seen, timeout, say)
        held = seen.get("canary")
        if held is None:
            say(f"{name}: its canary was removed before promote_after passed")
            return None
        if held["ready_for"] is not None and held["ready_for"] >= period:
            break
        if time.monotonic() >= deadline:
            raise LeapfrogError(
                f"{name}: its canary's pods were not ready for {period:g}s in a row within "
                f"{period + timeout:g}s: {seen['message']}",
                hint=f"`leapfrog rollout status {name} --target kubernetes` shows them",
            )
        time.sleep(rollouts.interval)
    promoted = rollouts.promote_canary(name, timeout)
    if promoted["phase"] != "complete":
        return _revert(rollouts, name, plan, promoted, timeout, say)
    say(f"{name}: canary promoted after {period:g}s ready: {promoted['message']}")
    return None


def _revert(  # noqa: PLR0917 (the settling's state, passed on)
    rollouts: KubeRollouts,
    name: str,
    plan: RolloutSpec,
    failed: dict[str, Any],
    timeout: float,
    say: Say,
) -> str:
    """auto_revert after a failed rollout: the canary removed (and its pods followed), a
    failed Deployment undone to its previous revision and followed; why it failed and
    what was done."""
    why = f"{name}: {failed['message']}"
    if not plan.auto_revert:
        say(why)
        return (
            f"{why} (auto_revert is off: `leapfrog rollout undo {name} --target kubernetes` "
            "goes back)"
        )
    done: list[str] = []
    removed = rollouts.remove_canary(name)
    if removed is not None:
        done.append(f"removed the canary {removed}")
        if not failed["failed"]:
            # A StatefulSet's canary pods are rolled back in place: wait for them too
            # (a deleted NAME-canary leaves the stable Deployment as it was: at once).
            back = last(rollouts.follow(name, timeout))
            if back["phase"] != "complete":
                done.append(f"whose pods did not roll back: {back['message']}")
    if failed["failed"]:  # the stable Deployment's (a StatefulSet's) own rollout
        try:
            undone = rollouts.undo(name, None)
        except LeapfrogError as exc:
            done.append(f"not rolled back: {exc.message}")
        else:
            if not undone["undone"]:
                done.append(f"not rolled back: it already runs revision {undone['current']}")
                say(f"{why}; auto_revert: {', '.join(done)}")
                return f"{why}; auto_revert {', '.join(done)}"
            done.append(f"rolled back to revision {undone['revision']}")
            back = last(rollouts.follow(name, timeout))
            if back["phase"] != "complete":
                done.append(f"which did not roll out either: {back['message']}")
    say(f"{why}; auto_revert: {', '.join(done)}")
    return f"{why}; auto_revert {', '.join(done)}"
