"""The stack file's models: what `leapfrog.yaml` may say, with defaults and limits.

Every field carries a description: it becomes the JSON Schema editors show, and the
stack-file reference in docs/ is checked against it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from leapfrog.shared.resolvers import split_dns_server
from leapfrog.spec._base import ByteSize, Duration
from leapfrog.spec._base import Model as _Model
from leapfrog.spec._deploy import (
    AutoscaleSpec,
    BuildSpec,
    KubernetesSettings,
    ResourcesSpec,
    RouteSpec,
)
from leapfrog.spec._identity import IdentitySpec
from leapfrog.spec._network import NetworkSpec
from leapfrog.spec._rollout import RolloutSpec
from leapfrog.spec._shell import split_command
from leapfrog.spec._telemetry import HostLogsSpec, ScrapeSpec
from leapfrog.spec._volumes import VolumeSpec, VolumeUse

__all__ = [
    "NAME_PATTERN",
    "AutoscaleSpec",
    "BuildSpec",
    "ByteSize",
    "CheckSpec",
    "DependsOn",
    "Duration",
    "HostLogsSpec",
    "IdentitySpec",
    "KubernetesSettings",
    "LocalSettings",
    "LogsSpec",
    "NetworkSpec",
    "ResourcesSpec",
    "RestartSpec",
    "RolloutSpec",
    "RouteSpec",
    "ScrapeSpec",
    "ServiceSpec",
    "StackSpec",
    "VolumeSpec",
    "VolumeUse",
]

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,39}$"
_NAME = re.compile(NAME_PATTERN)


def _split(value: object) -> object:
    if isinstance(value, str):
        try:
            return split_command(value)
        except ValueError as exc:
            raise ValueError(f"cannot split the command like a shell would: {exc}") from None
    return value


class CheckSpec(_Model):
    """How the supervisor decides that an instance is healthy. Exactly one of http, tcp, exec."""

    http: str | None = Field(
        None,
        description="Path to GET on the instance's address and port; "
        "any 2xx/3xx answer is healthy.",
        examples=["/health/ready"],
    )
    tcp: bool = Field(
        False, description="Healthy when a TCP connection to the instance's port succeeds."
    )
    exec: list[str] | None = Field(
        None,
        description="Command run with the instance's environment; exit status 0 is healthy. "
        "A string is split like a shell would; ${VAR} is substituted as in `command`.",
    )
    interval: Duration = Field(5.0, description="Time between probes once healthy.")
    timeout: Duration = Field(2.0, description="A probe that takes longer has failed.")
    retries: int = Field(
        3,
        ge=1,
        le=100,
        description="Consecutive failed probes that make a healthy instance unhealthy.",
    )
    start_interval: Duration = Field(
        0.02,
        description="First gap between probes while the instance is starting; "
        "it grows by 10% per probe up to 1s.",
    )
    start_timeout: Duration = Field(
        60.0,
        description="An instance not healthy this long after its first start is reported as "
        "failed to start (`up -d` exits 1); it keeps running and may still become healthy.",
    )

    @field_validator("exec", mode="before")
    @classmethod
    def _split_exec(cls, value: object) -> object:
        return _split(value)

    @field_validator("http")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"expected a path starting with '/', such as /{value}")
        return value

    @field_validator("interval", "timeout", "start_interval", "start_timeout")
    @classmethod
    def _sane(cls, value: float) -> float:
        if not 0.01 <= value <= 86400:
            raise ValueError("expected a duration between 10ms and 24h")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> CheckSpec:
        kinds = [k for k in ("http", "tcp", "exec") if getattr(self, k)]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"a check needs exactly one of http, tcp or exec (found {found})")
        return self

    @property
    def kind(self) -> Literal["http", "tcp", "exec"]:
        if self.http is not None:
            return "http"
        return "tcp" if self.tcp else "exec"


RestartPolicy = Literal["always", "on-failure", "no"]


class RestartSpec(_Model):
    """When an exited instance is started again, and how fast."""

    policy: RestartPolicy = Field(
        "on-failure",
        description="always: restart whatever the exit status; on-failure: only after a non-zero "
        "exit or a signal; no: never.",
    )
    backoff: Duration = Field(0.5, description="Delay before the first restart; doubles each time.")
    max_backoff: Duration = Field(
        30.0, description="The delay between restarts never exceeds this."
    )
    reset_after: Duration = Field(
        10.0,
        description="An instance that stays up this long has its backoff and crash count reset.",
    )
    crashloop_after: int = Field(
        5,
        ge=1,
        le=1000,
        description="Crashes in a row, each less than reset_after after its start, that show "
        "the instance as crashloop; it is still restarted, at most every max_backoff.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        # `restart: always` is the compose form; YAML reads a bare `no` as false.
        if value is False:
            return {"policy": "no"}
        if isinstance(value, str):
            return {"policy": value}
        if isinstance(value, dict) and value.get("policy") is False:
            return {**value, "policy": "no"}
        return value


class LogsSpec(_Model):
    """How much of an instance's output stays on disk: its log rotated while it runs."""

    max_size: ByteSize = Field(
        10 * 1024 * 1024,
        ge=64 * 1024,
        le=1024**4,
        description="Size at which the log file is renamed to <name>.log.1 and a new one "
        "begun: 10MiB, 512KiB (powers of 1024), 10MB (powers of 1000) or bytes.",
    )
    max_files: int = Field(
        5,
        ge=1,
        le=1000,
        description="Log files kept per instance, the one being written included; the "
        "oldest beyond this is deleted. At most max_size x max_files stay on disk.",
    )


class DependsOn(_Model):
    """What must hold of another service (or component) before this one starts."""

    condition: Literal["started", "healthy"] = Field(
        "healthy",
        description="healthy: wait until every instance of the dependency passes its check; "
        "started: wait until its processes have been started.",
    )

    @field_validator("condition", mode="before")
    @classmethod
    def _compose_names(cls, value: object) -> object:
        aliases = {"service_healthy": "healthy", "service_started": "started"}
        return aliases.get(value, value) if isinstance(value, str) else value


EnvValue = str | int | float | bool


class ServiceSpec(_Model):
    """One of the team's services: a command run as one or more instances."""

    command: list[str] = Field(
        description="Program and arguments; a string is split like a shell would. "
        "${HOST}, ${PORT} and other variables of the instance's environment are substituted; "
        "write $$ for a literal $.",
        examples=["python -m http.server ${PORT} --bind ${HOST}"],
    )
    replicas: int = Field(
        1,
        ge=0,
        le=250,
        description="How many instances to run (0 keeps the service defined, stopped).",
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="Port every instance listens on, at its own address."
    )
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables added for every instance: a mapping, or a list of "
        "NAME=value. Values are kept as written, may use ${VAR} like `command`, and override "
        "leapfrog's own variables (HOST, PORT, ...).",
    )
    depends_on: dict[str, DependsOn] = Field(
        default_factory=dict,
        description="Services or components to wait for before starting: a list of names "
        "(condition healthy) or a "
        "mapping name -> {condition: healthy|started}.",
    )
    check: CheckSpec | None = Field(
        None,
        description="Health check; without one an instance is healthy once it has run for 500ms.",
    )
    restart: RestartSpec = Field(
        default_factory=RestartSpec,
        description="When an exited instance is started again: a policy name "
        "(always, on-failure, 'no') or the full settings.",
    )
    logs: LogsSpec = Field(
        default_factory=LogsSpec,
        description="Rotation of each instance's log while it runs: {max_size, max_files}.",
    )
    user: str | None = Field(
        None,
        description="Unix user the instances run as. When leapfrog runs as root the default is "
        "the dedicated app user of the stack (see local.app_user); otherwise the current user, "
        "and naming another user is an error.",
    )
    working_dir: str | None = Field(
        None,
        description="Directory the command runs in, relative to the stack file's directory "
        "(the default); it must exist.",
    )
    stop_signal: Literal["SIGTERM", "SIGINT", "SIGQUIT", "SIGHUP", "SIGUSR1", "SIGUSR2"] = Field(
        "SIGTERM", description="Signal that asks an instance to stop."
    )
    stop_grace_period: Duration = Field(
        10.0, description="Time an instance has to exit after stop_signal before it is killed."
    )
    version: str | None = Field(
        None,
        description="Version of the service, handed to instances as LEAPFROG_VERSION (the SDK "
        "puts it in the catalog's service meta); on Kubernetes the image tag when `image` has "
        "none. Changing it rolls the instances.",
        examples=["1.4.2"],
    )
    route: RouteSpec | None = Field(
        None,
        description="Route through the load balancer (component `lb`): a path prefix such as "
        "/hello, or {path, host, strip_prefix}.",
    )
    drain: Duration = Field(
        1.0,
        description="On stop, how long an instance keeps serving after leaving the catalog, so "
        "the load balancer stops picking it first (LEAPFROG_DRAIN for the SDK; preStop on "
        "Kubernetes).",
    )
    image: str | None = Field(
        None,
        description="Container image for Kubernetes; required there, unused locally.",
        examples=["registry.example.com/hello:1.4.2"],
    )
    build: BuildSpec | None = Field(
        None,
        description="How `leapfrog image build` builds `image` (Kubernetes only, unused "
        "locally): a Containerfile built FROM leapfrog's own image.",
    )
    resources: ResourcesSpec = Field(
        default_factory=ResourcesSpec, description="CPU and memory per instance (Kubernetes)."
    )
    autoscale: AutoscaleSpec | None = Field(
        None,
        description="Scale between min and max instances with CPU, requests per second or "
        "requests in flight per instance, with the HorizontalPodAutoscaler's arithmetic and "
        "behavior: the supervisor locally, an HPA on Kubernetes.",
    )
    callers: list[str] | None = Field(
        None,
        description="The services allowed to call this one, exactly (default-deny for the "
        "others). Unset: those that list it in depends_on, and allow_from. Enforced by the "
        "firewall with `network: {isolation: namespaces}` and by NetworkPolicies on "
        "Kubernetes.",
        examples=[["web", "worker"]],
    )
    allow_from: list[str] = Field(
        default_factory=list,
        description="Other services allowed to call this one besides those that list it in "
        "depends_on (NetworkPolicy on Kubernetes).",
    )
    kv: list[str] = Field(
        default_factory=list,
        description="Catalog KV prefixes the instances may read with their own token (Consul "
        '`key_prefix "<prefix>" { policy = "read" }`). Each instance\'s token '
        "(CONSUL_HTTP_TOKEN) has Consul's service identity of this service: it registers "
        "this service and no other, and reads every service and node.",
        examples=[["app/config/"]],
    )
    kv_write: list[str] = Field(
        default_factory=list,
        description="Catalog KV prefixes the instances may read and write with their own "
        'token (Consul\'s `key_prefix "<prefix>" { policy = "write" }`): state the service '
        "keeps in the catalog, such as a leader's lock or its own settings.",
        examples=[["app/state/"]],
    )
    scrape: ScrapeSpec | None = Field(
        None,
        description="Read the instances' Prometheus page and ship it to the `metrics` topic: "
        "a path such as /metrics, or {path, interval}. Needs `port:`.",
    )
    rollout: RolloutSpec = Field(
        default_factory=RolloutSpec,
        description="How a change of this service is rolled out by `leapfrog up`: "
        "{max_surge, max_unavailable, min_ready, progress_deadline, auto_revert, canary}. "
        "Every change is a revision (`leapfrog rollout history NAME`).",
    )
    volumes: list[VolumeUse] = Field(
        default_factory=list,
        description="Volumes of the stack's `volumes:` this service uses: a list of names, "
        "NAME:/mount/path (the path in the container on Kubernetes), or {name, mount}. Each "
        "instance finds its directory in LEAPFROG_VOLUME_<NAME> (data -> "
        "LEAPFROG_VOLUME_DATA).",
        examples=[["data", "cache:/var/cache/app"]],
    )

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, value: object) -> object:
        return _split(value)

    @field_validator("command")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value or not value[0]:
            raise ValueError("expected a program to run, found an empty command")
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env(cls, value: object) -> object:
        if isinstance(value, list):
            pairs: dict[str, object] = {}
            for item in value:
                if not isinstance(item, str) or "=" not in item:
                    raise ValueError(f"expected NAME=value entries, found {item!r}")
                key, _, val = item.partition("=")
                pairs[key] = val
            value = pairs
        if isinstance(value, dict):
            out: dict[object, object] = {}
            for key, val in value.items():
                if isinstance(val, bool):
                    out[key] = "true" if val else "false"
                elif isinstance(val, int | float):
                    out[key] = str(val)
                elif val is None:
                    out[key] = ""
                else:
                    out[key] = val
            return out
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                raise ValueError(f"{key!r} is not a valid environment variable name")
        return value

    @field_validator("depends_on", mode="before")
    @classmethod
    def _depends_list(cls, value: object) -> object:
        if isinstance(value, list):
            # A non-name entry (such as compose's `- db: {...}`) is unhashable as a key:
            # report it instead of letting a TypeError escape validation.
            for name in value:
                if not isinstance(name, str):
                    found = "a list" if isinstance(name, list) else repr(name)
                    found = "a mapping" if isinstance(name, dict) else found
                    raise ValueError(
                        "expected a list of names, or a mapping of name: {condition: ...}; "
                        f"found {found} in the list"
                    )
            return {name: {} for name in value}
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    @field_validator("stop_grace_period")
    @classmethod
    def _grace(cls, value: float) -> float:
        if value > 3600:
            raise ValueError("expected at most 1h")
        return value

    @property
    def drain_time(self) -> float:
        """`drain` as written; left at its default, at most half of stop_grace_period."""
        if "drain" in self.model_fields_set:
            return self.drain
        return min(self.drain, self.stop_grace_period / 2)

    @model_validator(mode="after")
    def _drain_fits(self) -> ServiceSpec:
        if "drain" in self.model_fields_set and self.drain >= self.stop_grace_period:
            raise ValueError(
                f"drain ({self.drain:g}s) must be shorter than stop_grace_period "
                f"({self.stop_grace_period:g}s), or instances are killed while draining"
            )
        return self

    @model_validator(mode="after")
    def _scrape_needs_port(self) -> ServiceSpec:
        if self.scrape is not None and self.port is None:
            raise ValueError("scrape needs `port:` on the service")
        return self

    @model_validator(mode="after")
    def _check_needs_port(self) -> ServiceSpec:
        if self.check is not None and self.check.kind in ("http", "tcp") and self.port is None:
            raise ValueError(f"a {self.check.kind} check needs `port:` on the service")
        return self


def _loopback_endpoint(value: str) -> str:
    host, sep, port = value.rpartition(":")
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        address = None
    digits = port.isascii() and port.isdigit()  # int() also takes other scripts' digits
    if not sep or address is None or not digits or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected address:port such as 127.0.0.1:8500, not {value!r}")
    if not address.is_loopback:
        raise ValueError(f"expected a loopback address (127.x.y.z), not {host}")
    return value


class CatalogSettings(_Model):
    """The embedded Consul-compatible service catalog every stack starts first."""

    enabled: bool = Field(
        True,
        description="Start the catalog (HTTP API, health checks, KV, DNS) before everything "
        "else and hand its address and token to every unit.",
    )
    http: str = Field("127.0.0.1:8500", description="Address:port of the Consul HTTP API.")
    dns: str = Field("127.0.0.1:8600", description="Address:port of the DNS interface (UDP+TCP).")
    datacenter: str = Field("dc1", description="Datacenter name, as in Consul.")
    recursors: list[str] | None = Field(
        None,
        description="Consul's `recursors`: DNS servers (`IP` or `IP:PORT`) asked, in turn, "
        "the questions outside the catalog's domain; the first NOERROR or NXDOMAIN answer "
        "is passed on, SERVFAIL when none answers within 2 s each. Default: the host's "
        "nameservers from /etc/resolv.conf (but the catalog's own DNS address); `[]`: "
        "such questions are refused.",
        examples=[["10.0.0.2", "10.0.0.3:5353"]],
    )
    acl: bool = Field(
        True,
        description="ACL as Consul's default-deny: every request needs a token that allows it. "
        "`up` generates the tokens, keeps them mode 0600 in the state directory and hands "
        "each unit its own (CONSUL_HTTP_TOKEN): each service instance one with the service "
        "identity of its service (plus read on its `kv:` prefixes), the load balancer a "
        "read-only one (with `identity:` on, one reading as much with the service identity "
        "`lb`, for its certificate); DNS answers with a token that reads services and "
        "nodes. `false`: anyone may do anything.",
    )
    anonymous_read: bool = Field(
        False,
        description="With acl on, let requests without a token read everything (services, "
        "nodes, checks, KV values, sessions). Off by default, as in Consul: they see nothing.",
    )

    @field_validator("http", "dns")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _loopback_endpoint(value)

    @field_validator("recursors")
    @classmethod
    def _recursors(cls, value: list[str] | None) -> list[str] | None:
        for text in value or ():
            split_dns_server(text)
        return value

    @field_validator("datacenter")
    @classmethod
    def _dc(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", value):
            raise ValueError("expected lower-case letters, digits and '-' (at most 40)")
        return value


class LocalSettings(_Model):
    """How the stack runs on this machine."""

    state_dir: str = Field(
        ".leapfrog",
        description="Run state, logs and data, relative to the stack file; a directory, or "
        "a path where one can be made.",
    )
    addresses: str | None = Field(
        None,
        description="Loopback network (inside 127.0.0.0/8, at least a /24) from which each "
        "instance gets its own address. Default: a /16 chosen from the state directory's path, "
        "skipping any /16 where something listens when the stack first starts; kept after.",
        examples=["127.42.0.0/16"],
    )
    app_user: str = Field(
        "leapfrog",
        description="Unprivileged user services run as when leapfrog runs as root; "
        "created if missing.",
    )

    @field_validator("addresses")
    @classmethod
    def _loopback(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            net = ipaddress.IPv4Network(value, strict=True)
        except ValueError as exc:
            raise ValueError(f"expected a network such as 127.42.0.0/16 ({exc})") from None
        if not net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
            raise ValueError("expected a network inside 127.0.0.0/8, such as 127.42.0.0/16")
        if net.prefixlen > 24:
            raise ValueError("expected a network of at least 254 addresses (prefix /24 or shorter)")
        return value


class StackSpec(_Model):
    """A leapfrog stack: the platform's components and the team's services."""

    # strict: YAML's `true` is no number, nor "8080" in quotes; no NaN or infinity either.
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, strict=True, allow_inf_nan=False
    )

    name: str | None = Field(
        None,
        description="Name of the stack: lower-case letters, digits and '-'. Defaults to the "
        "stack file's directory name, cleaned up (My_Dir becomes my-dir).",
    )
    services: dict[str, ServiceSpec] = Field(
        default_factory=dict, description="The team's services, by name."
    )
    components: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Platform components by kind (kafka, zookeeper, postgres), with their "
        "options. Every service depends on every component (healthy) and receives its "
        "connection environment (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, ...).",
    )
    catalog: CatalogSettings = Field(
        default_factory=CatalogSettings,
        description="The service catalog (Consul-compatible), started before every other unit.",
    )
    local: LocalSettings = Field(
        default_factory=LocalSettings, description="Settings for running on this machine."
    )
    network: NetworkSpec = Field(
        default_factory=NetworkSpec,
        description="How instances are isolated from each other on this machine: loopback "
        "addresses (default) or a network namespace each behind a default-deny firewall.",
    )
    identity: IdentitySpec | None = Field(
        None,
        description="Service identity (Consul's service mesh): services serve mutual TLS "
        "with certificates from the catalog's CA and let in only their declared callers "
        "(`callers:`), by intentions `up` writes and keeps current. Absent: off; "
        "`identity: true` is `{mtls: true, default: deny}`.",
        examples=[{"mtls": True, "default": "deny"}],
    )
    kubernetes: KubernetesSettings = Field(
        default_factory=KubernetesSettings,
        description="Settings for rendering and applying the stack to Kubernetes.",
    )
    host_logs: HostLogsSpec = Field(
        default_factory=HostLogsSpec,
        description="The machine's own logs (kernel, audit, journal, syslog) to ship to the "
        "`logs` topic with the stack's.",
    )
    volumes: dict[str, VolumeSpec] = Field(
        default_factory=dict,
        description="Named volumes services use (their `volumes:` list): directories kept "
        "across restarts, `down`/`up` and rolling replacement, per instance or shared, with "
        "an optional size limit. `leapfrog volume ls` lists them, `leapfrog volume rm` "
        "deletes one.",
    )

    @field_validator("name")
    @classmethod
    def _stack_name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(
                "expected lower-case letters, digits and '-', starting with a letter (at most 40)"
            )
        return value

    @field_validator("identity", mode="before")
    @classmethod
    def _identity_flag(cls, value: object) -> object:
        """`identity: true` / `false`, the short forms of `{mtls: true|false}`."""
        return {"mtls": value} if isinstance(value, bool) else value

    @property
    def identity_on(self) -> bool:
        """Whether services serve mTLS and the intentions decide who calls whom."""
        return self.identity is not None and self.identity.mtls
