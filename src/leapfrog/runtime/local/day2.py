"""The control socket's day-2 operations: `contexts` (what `leapfrog exec` runs in),
`scale` and `rollout` (status, history, undo, pause, resume of a service's rollout).
Each takes the supervisor and the request and answers one JSON object; what they need
loads only when one is asked for, so the socket's client side stays light."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:
    from leapfrog.runtime.local.supervisor import Supervisor

__all__ = ["OPS"]


async def _contexts(sup: Supervisor, req: dict[str, Any]) -> dict[str, Any]:
    from leapfrog.runtime.local.execution import select

    names = [str(n) for n in req.get("names") or []]
    try:
        return {"contexts": select(sup, names, bool(req.get("all")))}
    except LeapfrogError as exc:
        return {"error": exc.message, "hint": exc.hint}


async def _scale(sup: Supervisor, req: dict[str, Any]) -> dict[str, Any]:
    from leapfrog.runtime.local.scaling import scale

    wanted = req.get("replicas")
    if not isinstance(wanted, dict):
        return {"error": "`scale` takes `replicas`: {NAME: N or +K or -K}"}
    try:
        return await scale(sup, {str(k): str(v) for k, v in wanted.items()})
    except LeapfrogError as exc:
        return {"error": exc.message, "hint": exc.hint}


async def _rollout(sup: Supervisor, req: dict[str, Any]) -> dict[str, Any]:
    from leapfrog.runtime.local.rollouts import OPS as ROLLOUT

    return await ROLLOUT["rollout"](sup, req)


OPS: dict[str, Callable[[Supervisor, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "contexts": _contexts,
    "scale": _scale,
    "rollout": _rollout,
}
