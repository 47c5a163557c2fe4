"""A store reached over the network, described by explicit options instead of a stack
file: what a backup Job on Kubernetes runs (`leapfrog backup run --store-kind postgres
--address postgres.NS.svc:5432 ...`, written by the operator, `_kube_runs.job_for`).

Everything that is not secret comes as options (`RemoteTarget`); secrets only from the
environment, never from arguments, so they show neither in `ps` nor in the Job's spec:

- `PGPASSWORD`: the PostgreSQL superuser's password (libpq reads it itself);
- `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`: an S3 storage's credentials (boto3's
  own chain);
- `LEAPFROG_BACKUP_KEY`: the text of the encryption secret named by `encryption`.

The run's lock and history live in `history` (the volume claim's `.history/` folder
when the storage is one, else a folder of the pod's own), its temporary files in a
work folder under it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leapfrog.backup.driver import Store
from leapfrog.backup.drivers import driver_for, known_drivers
from leapfrog.backup.engine import Engine, Limits, Progress
from leapfrog.backup.factory import open_storage
from leapfrog.backup.retention import Policy
from leapfrog.components._backup_options import BackupOptions, S3Options
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.named_secrets import FixedSecrets

__all__ = [
    "KEY_ENV",
    "RemoteTarget",
    "parse_address",
    "remote_engine",
    "remote_policy",
    "store_options",
]

KEY_ENV = "LEAPFROG_BACKUP_KEY"
"""The environment variable holding the encryption secret's text."""
_PORT_OPTION = {"kafka": "port", "postgres": "port", "influxdb": "port"}
"""The option of a component's main port (the one `--address` names)."""


def parse_address(text: str) -> tuple[str, int]:
    """(host, port) of `HOST:PORT`; a LeapfrogError naming the mistake otherwise."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LeapfrogError(
            f"{text!r} is not HOST:PORT",
            hint="e.g. --address postgres.default.svc:5432",
        )
    return host, int(port)


@dataclass(frozen=True)
class RemoteTarget:
    """One store and where its backups go, all of it from options."""

    kind: str
    address: str
    """HOST:PORT of the store's main port (its in-cluster Service)."""
    name: str | None = None
    """The store's name in the storage (`<name>/backups/...`); default: `kind`."""
    storage: str | None = None
    """A directory or `s3://BUCKET/PREFIX`."""
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    encryption: str | None = None
    """The name of the encryption secret (recorded in each manifest); its text comes
    from $LEAPFROG_BACKUP_KEY."""
    history: Path | None = None
    data_dir: Path | None = None
    """The store's own data directory, mounted here (a ZooKeeper restore's Job mounts
    the server's volume claim: the restore replaces its files); default: a work folder."""
    server_data_dir: Path | None = None
    """Where the store's server has `data_dir` (its own mount of the same volume)."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """The component's own options, where they differ from its defaults."""
    ports: Mapping[str, int] = field(default_factory=dict)
    """The store's other ports by name (`rpc`: its option `rpc_port`), reached at the
    host of `address`: InfluxDB's RPC port, which `influxd backup|restore` speak;
    ZooKeeper's AdminServer, which a restore asks whether the server runs."""

    def backup_options(self) -> BackupOptions:
        s3 = None
        if self.storage is not None and self.storage.startswith("s3://"):
            s3 = S3Options(endpoint=self.s3_endpoint, region=self.s3_region)
        return BackupOptions(storage=self.storage, s3=s3, encryption=self.encryption)

    def history_dir(self) -> Path:
        """Where the lock and the run history are kept."""
        if self.history is not None:
            return self.history
        if self.storage is not None and not self.storage.startswith("s3://"):
            return Path(self.storage) / ".history"
        return Path(tempfile.gettempdir()) / "leapfrog-backup"


def store_options(target: RemoteTarget, port: int) -> Any:
    """The component's validated options: `target.options`, its main port `port`, and
    each of its other `ports` (`rpc` is the option `rpc_port`); a port the component
    does not have is a sentence naming those it has."""
    from leapfrog.components import component

    comp = component(target.kind)
    raw = {**target.options, _PORT_OPTION.get(target.kind, "port"): port}
    fields = comp.options_model.model_fields
    if "backups" in fields and "backups" not in raw:
        # The store's `backups:` are where this run's go: a driver that finds its
        # storage through them (PostgreSQL's WAL archive) finds this one.
        raw["backups"] = target.backup_options().model_dump(exclude_none=True)
    for port_name, number in target.ports.items():
        option = f"{port_name}_port"
        if option not in fields:
            known = sorted(f.removesuffix("_port") for f in fields if f.endswith("_port"))
            raise LeapfrogError(
                f"--port {port_name}={number}: {target.kind} has no {port_name} port",
                hint=f"its other ports: {', '.join(known) or '(none)'}",
            )
        raw[option] = number
    return comp.options(raw)


def _store(target: RemoteTarget, work: Path) -> Store:
    from leapfrog.components import component
    from leapfrog.components.base import Instance
    from leapfrog.shared.cache import cache_dir

    if target.kind not in known_drivers():
        raise LeapfrogError(
            f"{target.kind!r} has no backup driver",
            hint=f"--store-kind takes one of {', '.join(sorted(known_drivers()))}",
        )
    host, port = parse_address(target.address)
    comp = component(target.kind)
    options = store_options(target, port)
    name = target.name or target.kind
    where = Instance(
        name=name,
        instance=name,
        address=host,
        port=port,
        data_dir=target.data_dir or work / "data",
        secrets_dir=work / "secrets",
        cache_dir=cache_dir(),
    )
    for folder in (where.data_dir, where.secrets_dir):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return Store(
        name,
        comp,
        options,
        where,
        # On first use only: a step that needs no scratch server needs no installation.
        lambda: comp.install(options, cache_dir(), lambda _line: None),
        remote=True,
        server_data_dir=target.server_data_dir,
    )


def remote_engine(
    target: RemoteTarget,
    limits: Limits | None = None,
    progress: Progress | None = None,
    only: tuple[str, ...] = (),
) -> Engine:
    """The engine of a remote store; `only`: the driver limited to those names."""
    secrets: dict[str, str] = {}
    if target.encryption is not None:
        key = os.environ.get(KEY_ENV)
        if not key:
            raise LeapfrogError(
                f"--encryption {target.encryption} needs the secret's text in ${KEY_ENV}",
                hint=f"set ${KEY_ENV} (on Kubernetes: from the Secret {target.encryption})",
            )
        secrets[target.encryption] = key
    state = target.history_dir()
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = _store(target, state / "work")
    storage = open_storage(target.backup_options(), state, FixedSecrets(secrets))
    driver = driver_for(target.kind, only)
    return Engine(store, driver, storage, state, limits or Limits(), progress)


def remote_policy(**given: int | None) -> Policy:
    """What a prune of a remote store keeps: the values given, else Policy's defaults."""
    return Policy(**{key: value for key, value in given.items() if value is not None})
