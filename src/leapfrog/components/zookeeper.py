"""Apache ZooKeeper 3.9, standalone, jars from Maven Central.

ZooKeeper's pom marks its logging backend (Logback), the AdminServer's Jetty and the
metrics and snapshot libraries the server needs as optional or provided, so they are
named here, their versions taken from ZooKeeper's own parent POM. Health is the `ruok`
and `srvr` four-letter words on the client port.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from pydantic import Field

from leapfrog.components._backup_options import BackupOptions
from leapfrog.components._jvm import (
    archive_flags,
    install_jvm_program,
    jvm_flags,
    properties_file,
)
from leapfrog.components._jvm_training import free_ports, run_for_training
from leapfrog.components.base import (
    Component,
    ComponentOptions,
    Health,
    Installation,
    Instance,
    Process,
    Progress,
)
from leapfrog.components.kube import KubeContext, KubeRender
from leapfrog.telemetry import LOGBACK_ZOOKEEPER, LogFormat, Sample, metric_name

__all__ = ["ZooKeeper", "ZooKeeperOptions", "four_letter_word"]

ZOO_CFG = "zoo.cfg"
LOGBACK_XML = "logback.xml"
DATA = "zk-data"
# Beyond these two for health, mntr is what monitoring tools read.
FOUR_LETTER_WORDS = "ruok,srvr,mntr,stat,conf,isro"
SERVER_ROLE = "server"
"""Its one JVM, with its class-data archive (see `_jvm`)."""


class ZooKeeperOptions(ComponentOptions):
    version: str = Field(
        "3.9.5",
        pattern=r"^3\.9\.[0-9]+$",
        description="Apache ZooKeeper version (3.9.x); its jars come from Maven Central.",
    )
    port: int = Field(2181, ge=1, le=65535, description="Client port.")
    backups: BackupOptions | None = Field(
        default=None,
        description="Where `leapfrog backup` keeps this store's backups, and how many.",
    )
    admin_port: int = Field(
        8080, ge=1, le=65535, description="Port of the AdminServer (HTTP, `/commands/...`)."
    )
    heap: str = Field("256m", pattern=r"^[0-9]+[mMgG]$", description="JVM heap (`-Xmx`).")
    tick_time: int = Field(
        2000, ge=100, le=60_000, description="ZooKeeper's time unit in milliseconds (tickTime)."
    )
    snapshot_interval_ms: int = Field(
        300_000,
        ge=0,
        le=2_147_483,  # in microseconds it must fit ZooKeeper's int
        description="Least time between two AdminServer snapshots (`/commands/snapshot`, "
        "what `leapfrog backup` uses), in milliseconds.",
    )


def zoo_cfg(options: ZooKeeperOptions, address: str, port: int, data_dir: Path) -> str:
    lines = {
        "tickTime": str(options.tick_time),
        "dataDir": str(data_dir),
        "clientPort": str(port),
        "clientPortAddress": address,
        "admin.enableServer": "true",
        "admin.serverAddress": address,
        "admin.serverPort": str(options.admin_port),
        "4lw.commands.whitelist": FOUR_LETTER_WORDS,
        # `/commands/snapshot` streams a consistent snapshot (the backup driver's
        # source); ZooKeeper refuses it unless the last processed zxid is serialized.
        "admin.snapshot.enabled": "true",
        "serializeLastProcessedZxid.enabled": "true",
        # Despite its name, ZooKeeper 3.9 hands this value to its rate limiter as
        # MICROSECONDS (Commands.SnapshotCommand), so its default of 300000 allows a
        # snapshot every 0.3 s; the option's milliseconds are converted here.
        "admin.rateLimiterIntervalInMS": str(options.snapshot_interval_ms * 1000),
        # Keep the data directory from growing without bound.
        "autopurge.snapRetainCount": "3",
        "autopurge.purgeInterval": "24",
    }
    return properties_file(lines)


def logback_xml() -> str:
    """INFO to stdout, which the runtime captures (Logback's default is DEBUG)."""
    return (
        "<configuration>\n"
        '  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">\n'
        "    <encoder><pattern>%d{ISO8601} [myid:%X{myid}] %-5level [%t] %logger{0}: %msg%n"
        "</pattern></encoder>\n"
        "  </appender>\n"
        # A line per four-letter word would fill the log with health probes.
        '  <logger name="org.apache.zookeeper.server.NIOServerCnxn" level="WARN"/>\n'
        '  <root level="INFO"><appender-ref ref="OUT"/></root>\n'
        "</configuration>\n"
    )


class ZooKeeper(Component[ZooKeeperOptions]):
    kind = "zookeeper"
    options_model = ZooKeeperOptions
    default_port = 2181
    description = "Apache ZooKeeper 3.9 (standalone, AdminServer on its own address)"

    def install(
        self, options: ZooKeeperOptions, cache_dir: Path, progress: Progress
    ) -> Installation:
        return install_jvm_program(
            f"zookeeper-{options.version}",
            options.version,
            [
                f"org.apache.zookeeper:zookeeper:{options.version}",
                "ch.qos.logback:logback-classic",
                "org.eclipse.jetty:jetty-server",
                "org.eclipse.jetty:jetty-servlet",
                "com.fasterxml.jackson.core:jackson-databind",
                "io.dropwizard.metrics:metrics-core",
                "org.xerial.snappy:snappy-java",
            ],
            cache_dir,
            progress,
            boms=[f"org.apache.zookeeper:parent:{options.version}"],
            roles=(SERVER_ROLE,),
            train=lambda installation: run_for_training(
                self, training_options(options), installation
            ),
        )

    def process(
        self, options: ZooKeeperOptions, installation: Installation, where: Instance
    ) -> Process:
        data = where.data_dir
        argv = (
            installation.extra["java"],
            *jvm_flags(options.heap),
            *archive_flags(installation, SERVER_ROLE),
            f"-Dlogback.configurationFile={data / LOGBACK_XML}",
            f"@{installation.extra['argfile']}",
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(data / ZOO_CFG),
        )
        return Process(
            argv=argv,
            files={
                ZOO_CFG: zoo_cfg(options, where.address, where.port, data / DATA),
                LOGBACK_XML: logback_xml(),
            },
            stop_signal="SIGTERM",
            stop_grace_period=30.0,
            start_timeout=120.0,
        )

    async def health(self, options: ZooKeeperOptions, where: Instance) -> Health:
        try:
            answer = await four_letter_word(where.address, where.port, "ruok", timeout=2.0)
            if answer != "imok":
                return Health(False, f"ruok: {answer or 'no answer'}")
            status = await four_letter_word(where.address, where.port, "srvr", timeout=2.0)
        except OSError as exc:  # TimeoutError included
            reason = exc.strerror or str(exc) or "no answer within 2s"
            return Health(False, f"{where.address}:{where.port}: {reason}")
        facts = dict(line.split(": ", 1) for line in status.splitlines() if ": " in line)
        if "Mode" not in facts:
            return Health(False, f"srvr: {status.strip()[:120] or 'no answer'}")
        return Health(True, f"{facts['Mode']}, {facts.get('Node count', '?')} znodes")

    def connection_env(self, options: ZooKeeperOptions, where: Instance) -> dict[str, str]:
        return {"ZOOKEEPER_CONNECT": f"{where.address}:{where.port}"}

    def log_format(self, options: ZooKeeperOptions) -> LogFormat:
        return LOGBACK_ZOOKEEPER

    async def metrics(self, options: ZooKeeperOptions, where: Instance) -> list[Sample]:
        return mntr_samples(await four_letter_word(where.address, where.port, "mntr", 5.0))

    def render_kubernetes(self, options: ZooKeeperOptions, kube: KubeContext) -> KubeRender:
        from leapfrog.components._zookeeper_kube import render_zookeeper

        config = zoo_cfg(options, "0.0.0.0", options.port, Path("/data"))
        return render_zookeeper(options, kube, config, logback_xml())


def training_options(options: ZooKeeperOptions) -> ZooKeeperOptions:
    """The stack's options on ports free now, for the install's one training start."""
    port, admin_port = free_ports(2)
    return options.model_copy(update={"port": port, "admin_port": admin_port})


def mntr_samples(answer: str) -> list[Sample]:
    """`mntr`'s `zk_name<TAB>value` lines: the numbers, and the server's state as a label."""
    samples = []
    for line in answer.splitlines():
        key, _, value = line.partition("\t")
        name = metric_name("zookeeper", key.removeprefix("zk_"))
        try:
            samples.append(Sample(name, float(value)))
        except ValueError:
            if key == "zk_server_state":
                samples.append(Sample("zookeeper_server_state", 1.0, {"state": value.strip()}))
    return samples


async def four_letter_word(host: str, port: int, word: str, timeout: float) -> str:
    """Send one of ZooKeeper's four-letter commands; its whole answer (it then closes)."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(word.encode())
            await writer.drain()
            return (await reader.read()).decode(errors="replace").strip()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
