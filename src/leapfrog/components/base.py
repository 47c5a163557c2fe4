"""The contract every platform component implements, in one place.

A component is one real program the platform runs (Kafka, ZooKeeper, PostgreSQL, ...).
leapfrog drives each through the same steps, so the local runtime, the Kubernetes
renderer and the backup engines never special-case a component:

1. `install`  - make the program available on this machine (idempotent, cached outside
   the repository); returns what was installed (version, paths).
2. `process`  - the process to run for one instance: argv, environment, files to write,
   and init commands run before every start (each idempotent: storage formatting,
   `initdb`), all as the instance's user.
3. `health`   - probe a running instance with a real client of the program.
4. `setup`    - after the first healthy probe: create what the stack file declares
   (topics, databases, roles) - idempotent, so it runs again on every start.
5. `connection_env` - what services that use the component receive in their
   environment (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`, ...).
6. `render_kubernetes` - the same component as Kubernetes objects (official image,
   StatefulSet, Services) and the env services get there (`leapfrog.components.kube`).
7. `backup` - a later step; a component that does not do it yet says so with
   `NotSupported`.
8. `log_format` - how its process writes its log (a `leapfrog.telemetry.LogFormat`), so
   the collector ships each record as one event (level, logger, message, trace).
9. `metrics` - its own figures (stats pages, system views, the admin API) as samples
   the collector ships as line protocol every interval.

Stop is the runtime's: the stop signal and grace period given by `process`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from leapfrog.telemetry import PLAIN, LogFormat, Sample

if TYPE_CHECKING:  # a local stack never renders to Kubernetes: not loaded on `up`'s way
    from leapfrog.components.kube import KubeContext, KubeRender

__all__ = [
    "Component",
    "ComponentOptions",
    "Health",
    "Installation",
    "Instance",
    "NotSupported",
    "Process",
    "Progress",
    "from_stack_dir",
]


class ComponentOptions(BaseModel):
    """Base of every component's options model: unknown keys are errors, not ignored."""

    # strict: YAML's `true` is no number, nor "8080" in quotes; no NaN or infinity either.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    def endpoints(self) -> Mapping[str, str]:
        """Fixed `address:port` listeners by option name; the stack check refuses two alike.
        Components on the runtime's own per-instance address have none."""
        return {}


class NotSupported(Exception):
    """A step this component does not implement (yet); the message says which."""


Progress = Callable[[str], None]
"""Called with a short line while a long step (a download, an apt install) runs."""


@dataclass(frozen=True)
class Installation:
    """What `install` made available."""

    version: str
    home: Path
    """Where the program's files are (a cache folder, /usr/lib/postgresql/15, ...)."""
    extra: Mapping[str, str] = field(default_factory=dict)
    """Component-specific facts: a classpath file, a bin directory, ..."""


@dataclass(frozen=True)
class Instance:
    """Where one instance of a component lives, as the runtime assigned it."""

    name: str
    """The unit name (the component's kind, `kafka`), used in messages."""
    instance: str
    """The instance name, `kafka-1`."""
    address: str
    """Its own loopback address; it listens here only."""
    port: int
    data_dir: Path
    """Its persistent data; survives `down`/`up`."""
    secrets_dir: Path
    """A folder only the stack's owner can read (mode 0700) for generated passwords."""
    cache_dir: Path
    """~/.cache/leapfrog (or LEAPFROG_CACHE): downloads shared across stacks."""
    run_as: tuple[int, int] | None = None
    """(uid, gid) the instance runs as; None for the current user."""
    stack_dir: Path | None = None
    """The stack file's directory: what a relative path in the options is relative to."""

    def stack_path(self, name: str) -> Path:
        """A path the stack file names (a job's file), relative to the stack file's own
        directory, as `working_dir` is; absolute paths stay as they are."""
        return from_stack_dir(name, self.stack_dir)


def from_stack_dir(name: str, stack_dir: Path | None) -> Path:
    """`name` from the stack file, relative to `stack_dir` (the current directory when
    there is none); `~` is the user's home."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else (stack_dir or Path.cwd()) / path


@dataclass(frozen=True)
class Process:
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    """Files to write before each start, by path relative to the data directory."""
    init: tuple[tuple[str, ...], ...] = ()
    """Commands run in order before each start; each must be idempotent and exit 0."""
    stop_signal: str = "SIGTERM"
    stop_grace_period: float = 30.0
    start_timeout: float = 120.0
    """How long the first healthy probe may take (JVMs are slow on two cores)."""


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str
    """One line: what the probe saw (`3 brokers, 5 topics` or the error)."""


OptionsT = TypeVar("OptionsT", bound=ComponentOptions)


class Component(ABC, Generic[OptionsT]):
    """One platform component. Subclasses are stateless: everything comes in arguments."""

    kind: ClassVar[str]
    """The key under `components:` in the stack file."""
    options_model: ClassVar[type[ComponentOptions]]
    default_port: ClassVar[int]
    description: ClassVar[str]
    runs_leapfrog: ClassVar[bool] = False
    """Its process is leapfrog's own interpreter (`python -m leapfrog ...`), which the app
    user may be unable to reach (a checkout in a folder only root enters)."""
    acts_on_stack: ClassVar[bool] = False
    """It acts on the stack as the `leapfrog` commands do (the backup scheduler runs
    `leapfrog backup` on schedule): the runtime hands it the stack file's path as
    `LEAPFROG_STACK_FILE` and runs it as the stack's owner (the supervisor's user), who
    owns the state directory, rather than as the app user."""

    host_network: ClassVar[bool] = False
    """It runs in the host's network even when the stack gives each instance a network
    namespace of its own (`network: {isolation: namespaces}`): the way in from the host
    (the load balancer) or a program of leapfrog's own that serves the host or reads every
    other part from there. It reaches every instance; no instance reaches it."""

    reads_state: ClassVar[bool] = False
    """It reads the stack's own state (the supervisor's control socket for status, the
    backup history): it runs as the supervisor's user and gets `LEAPFROG_STATE_DIR` and
    `LEAPFROG_CONTROL_SOCKET` (the console)."""

    def options(self, raw: Mapping[str, Any]) -> OptionsT:
        """The validated options; the spec loader has already reported errors with lines."""
        return self.options_model.model_validate(dict(raw))  # type: ignore[return-value]

    def port(self, options: OptionsT) -> int:
        """The port the instance listens on (an option may override the default)."""
        port = getattr(options, "port", None)
        return port if isinstance(port, int) else self.default_port

    @abstractmethod
    def install(self, options: OptionsT, cache_dir: Path, progress: Progress) -> Installation:
        """Make the program available; fast when already done. Raises LeapfrogError naming
        the missing prerequisite (Java, Maven, apt) and how to get it."""

    @abstractmethod
    def process(self, options: OptionsT, installation: Installation, where: Instance) -> Process:
        """The process of one instance; pure apart from reading `where.data_dir`."""

    @abstractmethod
    async def health(self, options: OptionsT, where: Instance) -> Health:
        """Probe the running instance with a real client; never raises."""

    async def setup(self, options: OptionsT, where: Instance) -> None:
        """Create what the stack file declares; idempotent. Raises LeapfrogError."""

    @abstractmethod
    def connection_env(self, options: OptionsT, where: Instance) -> dict[str, str]:
        """Environment handed to services that use this component."""

    def credentials(self, options: OptionsT, where: Instance) -> dict[str, str]:
        """Secrets this component generated (passwords, URLs with them), by label; shown
        only by the explicit `leapfrog secrets` command, never in logs or status."""
        return {}

    def web_ui(self, options: OptionsT) -> str | None:
        """The URL of the web UI this component serves, if any: the catalog's `/ui` leads
        to it, as Consul's `/ui` leads to Consul's."""
        return None

    def render_kubernetes(self, options: OptionsT, kube: KubeContext) -> KubeRender:
        """Manifests of the component in `kube.namespace`, and the env services get."""
        raise NotSupported(f"{self.kind} cannot be rendered to Kubernetes yet")

    def log_format(self, options: OptionsT) -> LogFormat:
        """How the process writes its log (stdout and stderr, captured by the runtime)."""
        return PLAIN

    async def metrics(self, options: OptionsT, where: Instance) -> list[Sample]:
        """The instance's own figures, read with a real client; names prefixed with the
        kind (`postgres_...`). Raises (any error) when the program cannot be read now:
        the collector reports it and tries again at the next interval."""
        return []
