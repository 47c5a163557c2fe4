"""OpenSearch 2.x, one node, from Maven Central's jars, started by a small Java launcher.

The jars are OpenSearch's server and the module plugins a node needs to be useful
(HTTP and transport over Netty, the common analyzers, Painless, reindex); the launcher
(`_opensearch_launcher`) embeds a `Node` with them, so the node runs as root or as the
app user without the distribution's layout. Health is the cluster health through the
REST API (green or yellow); services receive `OPENSEARCH_URL`.
"""

from __future__ import annotations

from pathlib import Path

from leapfrog.components._jvm import archive_flags, install_jvm_program, jvm_flags
from leapfrog.components._jvm_training import free_ports, run_for_training
from leapfrog.components._opensearch_config import (
    CLUSTER_SETTINGS,
    OpenSearchOptions,
    log4j2_properties,
    node_settings,
    opensearch_yml,
)
from leapfrog.components._opensearch_launcher import LAUNCHER_CLASS, build_launcher
from leapfrog.components._rest import rest_call
from leapfrog.components._store_metrics import opensearch_samples
from leapfrog.components.base import Component, Health, Installation, Instance, Process, Progress
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.shared.errors import LeapfrogError
from leapfrog.telemetry import LOG4J_OPENSEARCH, LogFormat, Sample

__all__ = ["OpenSearch", "OpenSearchOptions"]

CONFIG = "config"
NODE_ROLE = "node"
"""Its one JVM, with its class-data archive (see `_jvm`)."""

_MODULES = ("transport-netty4-client", "analysis-common", "lang-painless", "reindex-client")
# OpenSearch's pom brings Log4j's API only; the backend is the version it was built with.
_LOG4J_CORE = "org.apache.logging.log4j:log4j-core:2.21.0"
# What the distribution's jvm.options sets and an embedded node still wants.
_DISTRIBUTION_FLAGS = (
    "-Dfile.encoding=UTF-8",
    "-Djava.locale.providers=SPI,COMPAT",
    "-Djna.nosys=true",
    "-Dio.netty.noUnsafe=true",
    "-Dio.netty.noKeySetOptimization=true",
    "-Dio.netty.recycler.maxCapacityPerThread=0",
    "-Dlog4j.shutdownHookEnabled=false",
    "-Dlog4j2.disable.jmx=true",
)


class OpenSearch(Component[OpenSearchOptions]):
    kind = "opensearch"
    options_model = OpenSearchOptions
    default_port = 9200
    description = "OpenSearch 2.x (one node, REST API on its own address)"

    def install(
        self, options: OpenSearchOptions, cache_dir: Path, progress: Progress
    ) -> Installation:
        version = options.version
        return install_jvm_program(
            f"opensearch-{version}",
            version,
            [
                f"org.opensearch:opensearch:{version}",
                *(f"org.opensearch.plugin:{module}:{version}" for module in _MODULES),
                _LOG4J_CORE,
            ],
            cache_dir,
            progress,
            roles=(NODE_ROLE,),
            prepare=build_launcher,
            train=lambda installation: run_for_training(
                self, training_options(options), installation
            ),
        )

    def process(
        self, options: OpenSearchOptions, installation: Installation, where: Instance
    ) -> Process:
        data = where.data_dir
        settings = {
            "path.home": str(data),
            **node_settings(
                options, node_name=where.instance, host=where.address, port=where.port, data=data
            ),
        }
        argv = (
            installation.extra["java"],
            *jvm_flags(options.heap),
            *archive_flags(installation, NODE_ROLE),
            *_DISTRIBUTION_FLAGS,
            f"-Djava.io.tmpdir={data / 'tmp'}",
            f"-Dlog4j2.configurationFile={data / CONFIG / 'log4j2.properties'}",
            f"@{installation.extra['launcher_argfile']}",
            LAUNCHER_CLASS,
            str(data / CONFIG),
        )
        return Process(
            argv=argv,
            files={
                f"{CONFIG}/opensearch.yml": opensearch_yml(settings),
                f"{CONFIG}/log4j2.properties": log4j2_properties(),
            },
            stop_signal="SIGTERM",
            stop_grace_period=30.0,
            start_timeout=180.0,
        )

    async def health(self, options: OpenSearchOptions, where: Instance) -> Health:
        body, error = await rest_call("GET", f"{_url(where)}/_cluster/health", timeout=3.0)
        if not isinstance(body, dict):
            return Health(False, error or f"cluster health: not an object: {body!r:.80}")
        status = body.get("status")
        if status not in ("green", "yellow"):
            return Health(False, f"cluster health: {status or 'no status'}")
        shards = body.get("active_primary_shards", "?")
        return Health(True, f"{status}, {shards} primary shards")

    async def setup(self, options: OpenSearchOptions, where: Instance) -> None:
        _, error = await rest_call(
            "PUT", f"{_url(where)}/_cluster/settings", timeout=30.0, json=CLUSTER_SETTINGS
        )
        if error is not None:
            raise LeapfrogError(f"OpenSearch's cluster settings: {error}")

    def log_format(self, options: OpenSearchOptions) -> LogFormat:
        return LOG4J_OPENSEARCH

    async def metrics(self, options: OpenSearchOptions, where: Instance) -> list[Sample]:
        stats, error = await rest_call(
            "GET", f"{_url(where)}/_nodes/_local/stats/jvm,indices,process,http", timeout=5.0
        )
        if error is not None:
            raise LeapfrogError(f"OpenSearch's node stats: {error}")
        health, _ = await rest_call("GET", f"{_url(where)}/_cluster/health", timeout=5.0)
        return opensearch_samples(stats, health)

    def connection_env(self, options: OpenSearchOptions, where: Instance) -> dict[str, str]:
        return {"OPENSEARCH_URL": _url(where)}

    def render_kubernetes(self, options: OpenSearchOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._opensearch_kube import render_opensearch

        return render_opensearch(options, kube)


def training_options(options: OpenSearchOptions) -> OpenSearchOptions:
    """The stack's options on ports free now, for the install's one training start."""
    port, transport_port = free_ports(2)
    return options.model_copy(update={"port": port, "transport_port": transport_port})


def _url(where: Instance) -> str:
    return f"http://{where.address}:{where.port}"
