"""How a service is reached and deployed: its route through the load balancer, and what
Kubernetes needs that one machine does not (image, resources, autoscaling)."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, field_validator, model_validator

from leapfrog.spec._base import Duration, Model

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
_HOST = re.compile(
    r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class RouteSpec(Model):
    """Where the load balancer sends requests for this service: a path prefix, a host, or both."""

    path: str | None = Field(
        None,
        description="Path prefix routed to the service, such as /api. Longest prefix wins.",
        examples=["/hello"],
    )
    host: str | None = Field(
        None,
        description="Host name (the Host header) routed to the service; `*.` matches subdomains.",
        examples=["hello.localhost"],
    )
    strip_prefix: bool = Field(
        False, description="Remove the path prefix before the request reaches the service."
    )

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("/") or any(c in value for c in " \t\"'#?;{}\\"):
            raise ValueError(f"expected a path prefix such as /api, not {value!r}")
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not _HOST.match(value):
            raise ValueError(f"expected a host name such as hello.localhost, not {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        # `route: /hello` is the common case.
        return {"path": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _something(self) -> RouteSpec:
        if self.path is None and self.host is None:
            raise ValueError("a route needs a path, a host, or both")
        return self


def _quantity(value: str | None) -> str | None:
    if value is not None and not _QUANTITY.match(value):
        raise ValueError(f"expected a Kubernetes quantity such as 250m, 1 or 256Mi, not {value!r}")
    return value


class ResourcesSpec(Model):
    """CPU and memory for one instance. Used on Kubernetes (requests and limits)."""

    cpu: str = Field("100m", description="CPU requested: cores, or millicores such as 250m.")
    memory: str = Field("128Mi", description="Memory requested, and its limit, such as 256Mi.")
    cpu_limit: str | None = Field(None, description="CPU limit; none by default (no throttling).")
    memory_limit: str | None = Field(
        None, description="Memory limit when it differs from `memory`."
    )

    @field_validator("cpu", "memory", "cpu_limit", "memory_limit")
    @classmethod
    def _quantities(cls, value: str | None) -> str | None:
        return _quantity(value)


class _StepRules(Model):
    """What both directions share: step limits per period, one of them at least."""

    stabilization: Duration = Field(0.0)
    pods: int | None = Field(None, ge=1, le=250)
    percent: int | None = Field(None, ge=1, le=1000)
    period: Duration = Field(15.0, description="The period of `pods` and `percent`.")

    @model_validator(mode="after")
    def _some_limit(self) -> Self:
        if self.pods is None and self.percent is None:
            raise ValueError("give `pods`, `percent` or both")
        if self.period <= 0 or self.stabilization < 0:
            raise ValueError("`period` must be positive and `stabilization` not negative")
        return self


class ScaleUpRules(_StepRules):
    """How fast instances are added (HPA's `behavior.scaleUp`)."""

    stabilization: Duration = Field(
        0.0,
        description="Scale up to the lowest count recommended over this window (0: at once).",
    )
    pods: int | None = Field(
        4, ge=1, le=250, description="At most this many instances added per `period`."
    )
    percent: int | None = Field(
        100, ge=1, le=1000, description="At most this share of the current count added per period."
    )


class ScaleDownRules(_StepRules):
    """How fast instances are removed (HPA's `behavior.scaleDown`)."""

    stabilization: Duration = Field(
        300.0,
        description="Scale down only to the highest count recommended over this window, so a "
        "short lull does not remove instances the next peak needs.",
    )
    pods: int | None = Field(
        None, ge=1, le=250, description="At most this many instances removed per `period`."
    )
    percent: int | None = Field(
        100, ge=1, le=100, description="At most this share of the current count removed per period."
    )


class AutoscaleSpec(Model):
    """Scale the number of instances with load: the supervisor locally, a
    HorizontalPodAutoscaler (v2) on Kubernetes, with HPA's arithmetic and behavior."""

    min: int = Field(1, ge=1, le=250, description="Fewest instances.")
    max: int = Field(ge=1, le=250, description="Most instances.")
    cpu_percent: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="Average CPU use to keep, as a share of `resources.cpu` (80 when no "
        "target is given).",
    )
    requests_per_second: float | None = Field(
        None,
        gt=0,
        description="Average requests per second per instance to keep (the SDK's "
        "`http_requests_total`; a custom-metrics adapter on Kubernetes).",
    )
    in_flight: float | None = Field(
        None,
        gt=0,
        description="Average requests in flight per instance to keep (the SDK's "
        "`http_requests_in_flight`).",
    )
    scale_up: ScaleUpRules = Field(
        default_factory=ScaleUpRules,
        description="Stabilization window and step limits when adding instances.",
    )
    scale_down: ScaleDownRules = Field(
        default_factory=ScaleDownRules,
        description="Stabilization window (300s by default) and step limits when removing.",
    )

    @model_validator(mode="before")
    @classmethod
    def _cpu_by_default(cls, value: object) -> object:
        targets = ("cpu_percent", "requests_per_second", "in_flight")
        if isinstance(value, dict) and not any(value.get(t) is not None for t in targets):
            return {**value, "cpu_percent": 80}
        return value

    @model_validator(mode="after")
    def _order(self) -> AutoscaleSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is more than max ({self.max})")
        return self


class BuildSpec(Model):
    """How `leapfrog image build` makes the service's image (the name in `image`, tagged
    with `version`), on top of leapfrog's own image."""

    containerfile: str = Field(
        "Containerfile",
        description="The Containerfile (Dockerfile), relative to the stack file's directory. "
        "It gets the build argument LEAPFROG_IMAGE: leapfrog's built image, with Python, the "
        "SDK and its dependencies (`ARG LEAPFROG_IMAGE` then `FROM ${LEAPFROG_IMAGE}`).",
        examples=["Containerfile"],
    )
    context: str = Field(
        ".",
        description="The build context: the directory its COPY and ADD read from, relative "
        "to the stack file's directory.",
    )
    args: dict[str, str] = Field(
        default_factory=dict,
        description="More build arguments (`--build-arg NAME=VALUE`).",
        examples=[{"APP": "hello"}],
    )


class KubernetesSettings(Model):
    """How `leapfrog render --target kubernetes` and `leapfrog apply` deploy the stack."""

    namespace: str | None = Field(
        None, description="Namespace for everything; defaults to the stack's name."
    )
    images: dict[str, str] = Field(
        default_factory=dict,
        description="Image per platform part (consul, kafka, zookeeper, postgres, haproxy, "
        "leapfrog), replacing the default official image (for `leapfrog`: the image "
        "`leapfrog image build` made).",
    )
    storage_class: str | None = Field(
        None, description="StorageClass of the PersistentVolumeClaims; the cluster's default."
    )
    storage: dict[str, str] = Field(
        default_factory=dict,
        description="Volume size per stateful part (kafka, zookeeper, postgres, catalog), "
        "such as {kafka: 20Gi}.",
    )
    write_secrets: bool = Field(
        False,
        description="Write generated passwords and tokens into the rendered Secret manifests. "
        "Off by default: `apply` creates them in the cluster and no file holds them.",
    )
