"""How a changed service is rolled out: surge, unavailability, readiness and its deadline,
automatic revert and canary (Kubernetes' Deployment strategy, Nomad's update stanza)."""

from __future__ import annotations

from pydantic import Field, model_validator

from leapfrog.spec._base import Duration, Model

__all__ = ["RolloutSpec"]


class RolloutSpec(Model):
    """Replacing the instances of a service whose definition changed, a few at a time."""

    max_surge: int = Field(
        1,
        ge=0,
        le=10,
        description="Instances of the new revision started beside the old ones before the "
        "first old one leaves (NAME-(N+1)...: they leave again at the end). With 1 and "
        "max_unavailable 0, as many instances as replicas serve all along.",
    )
    max_unavailable: int = Field(
        0,
        ge=0,
        le=250,
        description="Old instances that may be out of service at once, beyond the surge: "
        "each step replaces max_surge + max_unavailable instances together.",
    )
    min_ready: Duration = Field(
        0.0,
        description="How long a new instance must keep passing before it counts "
        "(Kubernetes' minReadySeconds, Nomad's min_healthy_time).",
    )
    progress_deadline: Duration = Field(
        120.0,
        description="Each step's new instances must pass their check in the catalog "
        "within this, else the rollout fails (and reverts with auto_revert).",
    )
    auto_revert: bool = Field(
        True,
        description="A rollout that fails goes back to the previous revision the same safe "
        "way, and `leapfrog rollout status|history` say why. On Kubernetes `leapfrog "
        "apply --wait` undoes a Deployment past its progress deadline (a StatefulSet: a "
        "pod of its new revision not Ready within progress_deadline) and exits 1.",
    )
    canary: int = Field(
        0,
        ge=0,
        le=250,
        description="Stop once this many instances of the new revision serve (their share "
        "of traffic beside the old ones) until `leapfrog rollout resume NAME`; "
        "`leapfrog rollout undo NAME` takes them back. 0: no pause. On Kubernetes "
        "`leapfrog apply` runs them as a second Deployment, NAME-canary, beside the "
        "stable one; a StatefulSet's are its highest ordinals, held by its rolling "
        "update's partition.",
    )
    promote_after: Duration | None = Field(
        None,
        description="With canary: promote by itself once every canary has kept passing "
        "for this long (a canary failing first fails the rollout, reverted with "
        "auto_revert; one that stops passing starts the period again). Unset: wait for "
        "`leapfrog rollout promote NAME` (Nomad's auto_promote, after a healthy period). "
        "On Kubernetes `leapfrog apply --wait` promotes once the canary's pods have been "
        "Ready this long.",
    )

    @model_validator(mode="after")
    def _moves(self) -> RolloutSpec:
        if self.max_surge + self.max_unavailable < 1:
            raise ValueError(
                "max_surge and max_unavailable are both 0: a rollout could never replace an "
                "instance; set max_surge: 1 (start one more first) or max_unavailable: 1"
            )
        if self.promote_after is not None and self.canary == 0:
            raise ValueError(
                "promote_after promotes a canary, and canary is 0: set canary: 1 (or more), "
                "or remove promote_after"
            )
        return self
