"""InfluxDB 1.8, one server: HTTP API and the backup/restore RPC on the instance's address.

influxd is built from its Go module into the cache, or comes from Debian's package
(`_influxdb_install`). Health is `/ping` and a `SHOW DATABASES` query; setup creates the
declared databases and creates or alters their retention policies. Services receive
`INFLUXDB_URL`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leapfrog.components._influxdb_config import (
    InfluxDatabaseOptions,
    InfluxDBOptions,
    InfluxRetentionPolicyOptions,
    create_database,
    influxdb_conf,
    quote_ident,
    retention_policy_statement,
)
from leapfrog.components._influxdb_install import install_influxd
from leapfrog.components._rest import rest_call
from leapfrog.components._store_metrics import influxdb_stats_samples
from leapfrog.components.base import Component, Health, Installation, Instance, Process, Progress
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.shared.errors import LeapfrogError
from leapfrog.telemetry import INFLUXDB_LOGFMT, LogFormat, Sample

__all__ = ["InfluxDB", "InfluxDBOptions", "InfluxDatabaseOptions", "InfluxRetentionPolicyOptions"]

CONFIG = "influxdb.conf"
# Its files are its owner's only: influxd creates them with the umask it inherits.
_PRIVATE = 'umask 077 && exec "$0" "$@"'


class InfluxDB(Component[InfluxDBOptions]):
    kind = "influxdb"
    options_model = InfluxDBOptions
    default_port = 8086
    description = "InfluxDB 1.8 (HTTP API and backup RPC on its own address)"

    def install(
        self, options: InfluxDBOptions, cache_dir: Path, progress: Progress
    ) -> Installation:
        return install_influxd(options.version, cache_dir, progress)

    def process(
        self, options: InfluxDBOptions, installation: Installation, where: Instance
    ) -> Process:
        data = where.data_dir
        conf = influxdb_conf(options, host=where.address, port=where.port, data=data)
        return Process(
            argv=(
                "sh",
                "-c",
                _PRIVATE,
                installation.extra["binary"],
                "run",
                "-config",
                str(data / CONFIG),
            ),
            files={CONFIG: conf},
            stop_signal="SIGTERM",
            stop_grace_period=30.0,
            start_timeout=60.0,
        )

    async def health(self, options: InfluxDBOptions, where: Instance) -> Health:
        _, error = await rest_call("GET", f"{_url(where)}/ping", timeout=2.0, expect_json=False)
        if error is not None:
            return Health(False, error)
        try:
            rows = await _query(where, "SHOW DATABASES", timeout=3.0)
        except LeapfrogError as exc:
            return Health(False, exc.message)
        return Health(True, f"{len(rows)} databases")

    async def setup(self, options: InfluxDBOptions, where: Instance) -> None:
        for database, spec in options.databases.items():
            await _query(where, create_database(database))
            if not spec.retention_policies:
                continue
            shown = await _query(where, f"SHOW RETENTION POLICIES ON {quote_ident(database)}")
            existing = {row[0] for row in shown}
            for name, policy in spec.retention_policies.items():
                verb = "ALTER" if name in existing else "CREATE"
                await _query(where, retention_policy_statement(verb, database, name, policy))

    def log_format(self, options: InfluxDBOptions) -> LogFormat:
        return INFLUXDB_LOGFMT

    async def metrics(self, options: InfluxDBOptions, where: Instance) -> list[Sample]:
        body, error = await rest_call(
            "GET", f"{_url(where)}/query", timeout=5.0, params={"q": "SHOW STATS"}
        )
        if error is not None:
            raise LeapfrogError(f"InfluxDB's SHOW STATS: {error}")
        return influxdb_stats_samples(body)

    def connection_env(self, options: InfluxDBOptions, where: Instance) -> dict[str, str]:
        return {"INFLUXDB_URL": _url(where)}

    def render_kubernetes(self, options: InfluxDBOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._influxdb_kube import render_influxdb

        return render_influxdb(options, kube)


async def _query(where: Instance, statement: str, timeout: float = 30.0) -> list[list[Any]]:
    """One InfluxQL statement through POST /query: its first series' rows, [] for none.

    InfluxDB answers 200 with an `error` inside for a statement it refused."""
    body, error = await rest_call(
        "POST", f"{_url(where)}/query", timeout=timeout, params={"q": statement}
    )
    if error is not None:
        raise LeapfrogError(f"InfluxDB: {error}")
    results = body.get("results") if isinstance(body, dict) else None
    first = results[0] if isinstance(results, list) and results else {}
    if not isinstance(first, dict):
        raise LeapfrogError(f"InfluxDB: {statement}: unexpected answer {body!r:.120}")
    if "error" in first:
        raise LeapfrogError(f"InfluxDB refused `{statement}`: {first['error']}")
    series = first.get("series") or [{}]
    values = series[0].get("values") or []
    return [list(row) for row in values]


def _url(where: Instance) -> str:
    return f"http://{where.address}:{where.port}"
