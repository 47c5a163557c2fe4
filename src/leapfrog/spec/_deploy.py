"""How a service is reached and deployed: its route through the load balancer, and what
Kubernetes needs that one machine does not (image, resources, autoscaling)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from leapfrog.spec._base import Model

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


class AutoscaleSpec(Model):
    """Scale the number of instances with load (a HorizontalPodAutoscaler on Kubernetes)."""

    min: int = Field(1, ge=1, le=250, description="Fewest instances.")
    max: int = Field(ge=1, le=250, description="Most instances.")
    cpu_percent: int = Field(
        80, ge=1, le=100, description="Average CPU use, as a share of `resources.cpu`, to keep."
    )

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
