"""The stack file: its models, its loader with located error messages, and its JSON Schema."""

from leapfrog.spec._network import callers_of
from leapfrog.spec.errors import Problem, SpecError, render
from leapfrog.spec.loader import MAX_FILE_BYTES, load_stack, parse_stack, read_stack_bytes
from leapfrog.spec.models import (
    NAME_PATTERN,
    AutoscaleSpec,
    ByteSize,
    CatalogSettings,
    CheckSpec,
    DependsOn,
    Duration,
    HostLogsSpec,
    KubernetesSettings,
    LocalSettings,
    LogsSpec,
    NetworkSpec,
    ResourcesSpec,
    RestartSpec,
    RolloutSpec,
    RouteSpec,
    ScrapeSpec,
    ServiceSpec,
    StackSpec,
    VolumeSpec,
    VolumeUse,
)
from leapfrog.spec.schema import json_schema
from leapfrog.spec.stack import Stack

__all__ = [
    "MAX_FILE_BYTES",
    "NAME_PATTERN",
    "AutoscaleSpec",
    "ByteSize",
    "CatalogSettings",
    "CheckSpec",
    "DependsOn",
    "Duration",
    "HostLogsSpec",
    "KubernetesSettings",
    "LocalSettings",
    "LogsSpec",
    "NetworkSpec",
    "Problem",
    "ResourcesSpec",
    "RestartSpec",
    "RolloutSpec",
    "RouteSpec",
    "ScrapeSpec",
    "ServiceSpec",
    "SpecError",
    "Stack",
    "StackSpec",
    "VolumeSpec",
    "VolumeUse",
    "callers_of",
    "json_schema",
    "load_stack",
    "parse_stack",
    "read_stack_bytes",
    "render",
]
