"""How many instances a service should run: the HorizontalPodAutoscaler's arithmetic
(Kubernetes' `replica_calculator` and `horizontal.go`, read to match their meaning), so
`autoscale:` means the same on one machine as on a cluster.

One call of `Autoscaling.decide` is one sync of the HPA:
- each target gives `ceil(ratio * instances measured)`, where ratio is the measured
  average over the target; a ratio within 10 % of 1 (the HPA's tolerance) keeps the
  current count; with several targets the largest count wins;
- the count is kept between `min` and `max`;
- stabilization: scaling up goes to the lowest count recommended within the scale-up
  window, scaling down to the highest within the scale-down window (300 s by default),
  so a short lull does not remove instances the next peak needs;
- rate limits: per period, at most `pods` or `percent` more (or fewer) than at the
  period's start, the more permissive of the two (HPA's `selectPolicy: Max`).
Pure: time and measurements come in, so the policy is tested without processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from leapfrog.spec import AutoscaleSpec

__all__ = ["TOLERANCE", "Autoscaling", "Decision", "Reading"]

TOLERANCE = 0.1
"""Kubernetes' default `--horizontal-pod-autoscaler-tolerance`."""


@dataclass(frozen=True)
class Reading:
    """One target's measurements: each measured instance's value, and the target."""

    name: str
    """What is measured, as people say it: `cpu`, `requests/s`, `in flight`."""
    values: Sequence[float]
    target: float
    unit: str = ""


@dataclass(frozen=True)
class Decision:
    current: int
    desired: int
    reason: str

    @property
    def changes(self) -> bool:
        return self.desired != self.current


@dataclass
class Autoscaling:
    """The decisions for one service: its recommendations and its scale events, kept
    for as long as its windows look back."""

    spec: AutoscaleSpec
    _recommendations: list[tuple[float, int]] = field(default_factory=list)
    _events: list[tuple[float, int]] = field(default_factory=list)
    """(time, change): +k for k instances added, -k for k removed."""

    def decide(self, now: float, current: int, readings: Sequence[Reading]) -> Decision:
        proposed, why = self._proposal(current, readings)
        bounded = min(max(proposed, self.spec.min), self.spec.max)
        if bounded != proposed:
            why += f"; kept within min {self.spec.min} and max {self.spec.max}"
        stable = self._stabilized(now, current, bounded)
        if stable != bounded:
            window = (
                self.spec.scale_down.stabilization
                if bounded < current
                else self.spec.scale_up.stabilization
            )
            why += f"; held at {stable} by the {window:g}s stabilization window"
        desired = self._rate_limited(now, current, stable)
        if desired != stable:
            why += f"; {desired} is as far as the step limit allows now"
        return Decision(current, desired, why)

    def scaled(self, now: float, before: int, after: int) -> None:
        """Record a change carried out, for the rate limits of the next periods."""
        if after != before:
            self._events.append((now, after - before))

    # -- the steps --------------------------------------------------------------------

    def _proposal(self, current: int, readings: Sequence[Reading]) -> tuple[int, str]:
        best: tuple[int, str] | None = None
        for reading in readings:
            if not reading.values:
                continue
            average = sum(reading.values) / len(reading.values)
            ratio = average / reading.target
            target = f"{reading.target:g}{reading.unit}"
            shown = f"{reading.name} {average:.3g}{reading.unit} per instance (target {target})"
            if abs(ratio - 1.0) <= TOLERANCE:
                count, why = current, f"{shown}: within the 10% tolerance"
            else:
                count = math.ceil(ratio * len(reading.values))
                why = f"{shown} over {len(reading.values)} measured: {count}"
            if best is None or count > best[0]:
                best = (count, why)
        if best is None:
            return current, "no measurement yet: kept"
        return best

    def _stabilized(self, now: float, current: int, recommended: int) -> int:
        self._recommendations.append((now, recommended))
        longest = max(self.spec.scale_up.stabilization, self.spec.scale_down.stabilization)
        self._recommendations = [r for r in self._recommendations if r[0] >= now - longest]
        up_cutoff = now - self.spec.scale_up.stabilization
        down_cutoff = now - self.spec.scale_down.stabilization
        up = min((c for t, c in self._recommendations if t >= up_cutoff), default=recommended)
        down = max((c for t, c in self._recommendations if t >= down_cutoff), default=recommended)
        return min(max(current, up), down)

    def _rate_limited(self, now: float, current: int, wanted: int) -> int:
        longest = max(self.spec.scale_up.period, self.spec.scale_down.period)
        self._events = [e for e in self._events if e[0] > now - longest]
        if wanted > current:
            rules = self.spec.scale_up
            added = sum(c for t, c in self._events if c > 0 and t > now - rules.period)
            start = current - added
            limits = []
            if rules.pods is not None:
                limits.append(start + rules.pods)
            if rules.percent is not None:
                limits.append(math.ceil(start * (1 + rules.percent / 100)))
            return max(current, min(wanted, max(limits)))
        if wanted < current:
            down = self.spec.scale_down
            removed = -sum(c for t, c in self._events if c < 0 and t > now - down.period)
            start = current + removed
            floors = []
            if down.pods is not None:
                floors.append(start - down.pods)
            if down.percent is not None:
                floors.append(int(start * (1 - down.percent / 100)))
            return min(current, max(wanted, min(floors)))
        return current
