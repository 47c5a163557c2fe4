"""OpenSearch's options as the stack file gives them, and the files they become."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field

from leapfrog.components._backup_options import BackupOptions
from leapfrog.components.base import ComponentOptions

__all__ = [
    "CLUSTER_SETTINGS",
    "OpenSearchBackupOptions",
    "OpenSearchOptions",
    "log4j2_properties",
    "node_settings",
    "opensearch_yml",
]

CLUSTER_SETTINGS = {"persistent": {"cluster.default_number_of_replicas": 0}}
"""Set through the API at setup (OpenSearch reads it from the cluster's state, not from
opensearch.yml): one node holds every shard, so new indices get no replicas and the
cluster is green, not yellow. An index or template that names its replicas keeps them."""


class OpenSearchBackupOptions(BackupOptions):
    """`backups:` of OpenSearch: the shared options and what a backup holds."""

    indices: list[str] = Field(
        default_factory=list,
        description="Indices `leapfrog backup run` backs up (names or shell patterns such as "
        "`logs-*`); empty: every open index not starting with a dot. `--index` "
        "overrides it.",
    )


class OpenSearchOptions(ComponentOptions):
    version: str = Field(
        "2.19.1",
        pattern=r"^2\.[0-9]+\.[0-9]+$",
        description="OpenSearch version (2.x); its jars come from Maven Central.",
    )
    port: int = Field(9200, ge=1, le=65535, description="Port of the REST API (HTTP).")
    backups: OpenSearchBackupOptions | None = Field(
        default=None,
        description="Where `leapfrog backup` keeps this store's backups, and how many.",
    )
    transport_port: int = Field(
        9300, ge=1, le=65535, description="Port of the node-to-node transport."
    )
    heap: str = Field(
        "512m",
        pattern=r"^[0-9]+[mMgG]$",
        description="JVM heap (`-Xmx`), such as `512m` or `1g`.",
    )


def node_settings(
    options: OpenSearchOptions, *, node_name: str, host: str, port: int, data: Path
) -> dict[str, object]:
    """A single node of its own cluster, listening on `host`:`port`, its data under `data`.

    The disk watermarks, which would make a nearly full development disk refuse writes,
    are off.
    """
    return {
        "cluster.name": "leapfrog",
        "node.name": node_name,
        "path.data": str(data / "nodes"),
        # The backup engine takes `fs` snapshots: a repository must lie under path.repo.
        "path.repo": [str(data / "snapshots")],
        "network.host": host,
        "http.port": port,
        "transport.port": options.transport_port,
        "discovery.type": "single-node",
        "cluster.routing.allocation.disk.threshold_enabled": False,
    }


def opensearch_yml(settings: dict[str, object]) -> str:
    header = (
        "# Written by leapfrog before each start; edit the stack file instead.\n"
        "# No security plugin: the node runs without TLS or users (on Kubernetes the\n"
        "# image's plugin is disabled explicitly).\n"
    )
    return header + yaml.safe_dump(settings, sort_keys=False, default_flow_style=False)


def log4j2_properties() -> str:
    """Everything to stdout, which the runtime captures as the instance's log."""
    return (
        "status = warn\n"
        "appender.out.type = Console\n"
        "appender.out.name = STDOUT\n"
        "appender.out.layout.type = PatternLayout\n"
        "appender.out.layout.pattern = [%d{ISO8601}][%-5p][%c{1.}] %m%n\n"
        "rootLogger.level = info\n"
        "rootLogger.appenderRef.out.ref = STDOUT\n"
    )
