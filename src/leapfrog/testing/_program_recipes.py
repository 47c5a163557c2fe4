"""The recipes of the platform programs' images for the real test node, as data.

On a real cluster the programs keep their official images (`kube.DEFAULT_IMAGES`). This
machine reaches no container registry, so the test node runs local equivalents, made from
what leapfrog installs locally: the Debian packages (a root file system by mmdebstrap,
as leapfrog's own base) and the Maven jars and the Consul binary in leapfrog's cache.

Each image honours the interface the render gives its containers, so the rendered
manifests run unchanged but for the image reference: the commands the pods run
(`/opt/kafka/bin/kafka-server-start.sh`, `zkServer.sh start-foreground`, `postgres` and
`pg_isready`, `sh -c '... exec haproxy ...'`, `consul agent`, `npm pack`), the variables
they read (`KAFKA_HEAP_OPTS`, `KAFKA_LOG4J_OPTS`, `JVMFLAGS`, `ZOO_LOG_DIR`,
`POSTGRES_PASSWORD`, `PGDATA`), the mounted paths (`/conf`, `/etc/leapfrog/...`) and the
users the pods run as (a passwd entry for each, as the official images have).

Everything here is pure: the keys are computed without running a program.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from leapfrog.runtime.kubernetes.images._recipe import BASE_EXCLUDES, BASE_HOOKS

__all__ = ["RECIPES", "REPOSITORY", "ProgramRecipe", "Script", "with_users"]

RECIPE_VERSION = 1
"""Bumped when the way these images are put together changes without the data showing it."""

REPOSITORY = "localhost/leapfrog-test"
"""`localhost/` never resolves to a registry: the node finds the imported archive."""

JAVA = "openjdk-17-jre-headless"
MINIMAL = (
    *("base-files", "base-passwd", "dash", "coreutils", "diffutils", "findutils"),
    *("sed", "grep", "mawk", "tar", "libc-bin", "dpkg", "netbase"),
)
"""A shell and the tools a setup script uses, for the images of one static binary."""
"""Debian 12's JRE: the `java` leapfrog runs Kafka and ZooKeeper with locally."""


@dataclass(frozen=True)
class Script:
    """A file the image carries, written from text."""

    text: str
    mode: int = 0o755


def with_users(passwd: str, group: str, users: tuple[tuple[str, int, int], ...]) -> tuple[str, str]:
    """/etc/passwd and /etc/group of the root file system with an entry for each
    (name, uid, gid), replacing one a package made under that name: initdb and the JVM
    look the running user up. Written into the program's layer, so programs of one
    package set (Kafka and ZooKeeper) share one root file system."""
    names = {name for name, _, _ in users}

    def kept(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.split(":", 1)[0] not in names]

    passwd_lines, group_lines = kept(passwd), kept(group)
    for name, uid, gid in users:
        if not any(line.split(":")[2:3] == [str(gid)] for line in group_lines):
            group_lines.append(f"{name}:x:{gid}:")
        passwd_lines.append(f"{name}:x:{uid}:{gid}:{name}:/tmp:/usr/sbin/nologin")
    return "\n".join(passwd_lines) + "\n", "\n".join(group_lines) + "\n"


@dataclass(frozen=True)
class ProgramRecipe:
    """One program's image: a Debian root file system, then a layer of the files leapfrog
    has in its cache (`jars`, `binaries`) and the launchers (`scripts`)."""

    part: str
    """The key of `kubernetes.images` the image stands in for."""
    packages: tuple[str, ...]
    """Debian packages beyond leapfrog's base."""
    users: tuple[tuple[str, int, int], ...]
    """(name, uid, gid) the rendered pods run as."""
    scripts: Mapping[str, Script] = field(default_factory=dict)
    """Path in the image -> its text."""
    jars: str | None = None
    """A JVM component whose installed jars go to `/opt/<part>/libs`, in the order of its
    local classpath, named by the java argument file `/opt/<part>/classpath.args`."""
    binaries: Mapping[str, str] = field(default_factory=dict)
    """Path in the image -> a program of `leapfrog.testing.consul_tool` (by name)."""
    npm: tuple[str, ...] = ()
    """npm packages (cache folder names) packed into /usr/share/leapfrog/npm."""
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = "65534:65534"
    """The default user, when a pod names none (the rendered pods all do)."""
    hooks: tuple[str, ...] = ()
    """More customize hooks of the root file system."""
    variant: str = "essential"
    """mmdebstrap's: `essential` (Debian's Essential set, whose perl-base and debconf the
    JRE's, PostgreSQL's and HAProxy's maintainer scripts need) or `custom` (`packages`
    and what they depend on: enough for a static binary and a shell)."""
    excludes: tuple[str, ...] = ()
    """Paths dpkg leaves out beyond leapfrog's base's (what the pods never load)."""

    @property
    def rootfs_packages(self) -> tuple[str, ...]:
        return self.packages

    @property
    def rootfs_excludes(self) -> tuple[str, ...]:
        # The manual's section folders stay (the pages do not): update-alternatives
        # links the JRE's manual pages into them and fails where they are missing.
        base = ("/usr/share/man/*/*" if p == "/usr/share/man/*" else p for p in BASE_EXCLUDES)
        return (*base, *self.excludes)

    @property
    def rootfs_hooks(self) -> tuple[str, ...]:
        return (*BASE_HOOKS, *self.hooks)

    def key(self, inputs: Mapping[str, str]) -> str:
        """The image's key: the recipe and `inputs` (each cached file's identity: the
        jars' names, the binary's digest), so a new Kafka or Consul is a new image."""
        data = {
            "version": RECIPE_VERSION,
            "part": self.part,
            "packages": self.rootfs_packages,
            "hooks": self.rootfs_hooks,
            "variant": self.variant,
            "excludes": self.rootfs_excludes,
            "users": self.users,
            "scripts": {path: [s.text, s.mode] for path, s in sorted(self.scripts.items())},
            "jars": self.jars,
            "binaries": dict(sorted(self.binaries.items())),
            "npm": self.npm,
            "env": dict(sorted(self.env.items())),
            "entrypoint": self.entrypoint,
            "cmd": self.cmd,
            "user": self.user,
            "inputs": dict(sorted(inputs.items())),
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def reference(self, key: str) -> str:
        return f"{REPOSITORY}/{self.part}:{key[:12]}"


_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"

# A JVM program's launcher: the environment variables its official scripts read, the
# jars leapfrog runs locally, one main class.
_JAVA_LAUNCHER = """\
#!/bin/sh
# {what}: as the official script, from the jars leapfrog runs locally.
exec java $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_LOG4J_OPTS $KAFKA_OPTS \\
  @/opt/kafka/classpath.args {main} "$@"
"""

_KAFKA_TOOLS = {
    "kafka-server-start.sh": "kafka.Kafka",
    "kafka-storage.sh": "kafka.tools.StorageTool",
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs.sh": "org.apache.kafka.tools.ConfigCommand",
    "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
}

_ZK_SERVER = """\
#!/bin/sh
# zkServer.sh start-foreground, as the official image's CMD: zoo.cfg and logback.xml
# from $ZOOCFGDIR (the rendered ConfigMap at /conf), JVMFLAGS and ZOO_LOG_DIR as its
# zkEnv.sh reads them.
case "$1" in start-foreground) ;; *) echo "usage: zkServer.sh start-foreground" >&2; exit 2 ;; esac
exec java -Dzookeeper.log.dir="${ZOO_LOG_DIR:-/logs}" -Dzookeeper.root.logger=INFO,CONSOLE \\
  -Dlogback.configurationFile="$ZOOCFGDIR/logback.xml" $JVMFLAGS $SERVER_JVMFLAGS \\
  @/opt/zookeeper/classpath.args \\
  org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZOOCFGDIR/zoo.cfg"
"""

_PG_ENTRYPOINT = """\
#!/bin/sh
# The official postgres image's entrypoint, the part the rendered StatefulSet uses: an
# empty $PGDATA is initialised (superuser `postgres` with $POSTGRES_PASSWORD, local
# trust, scram-sha-256 from anywhere, listening on every address), then the command runs.
set -e
case "$1" in -*) set -- postgres "$@" ;; esac
if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ]; then
    echo "Error: POSTGRES_PASSWORD is not set: the superuser needs a password" >&2
    exit 1
  fi
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s\\n' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --username="${POSTGRES_USER:-postgres}" --pwfile="$pwfile" --auth-local=trust \\
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS
  rm -f "$pwfile"
  printf '\\nhost all all all scram-sha-256\\n' >> "$PGDATA/pg_hba.conf"
  printf "\\nlisten_addresses = '*'\\n" >> "$PGDATA/postgresql.conf"
fi
exec "$@"
"""

_CONSUL_ENTRYPOINT = """\
#!/bin/sh
# As the official consul image's entrypoint: flags or a consul subcommand run consul, and
# `agent` gets the image's data and config folders (a flag given later wins).
case "$1" in -*) set -- agent "$@" ;; esac
if [ "$1" = agent ]; then
  shift
  set -- consul agent -data-dir=/consul/data -config-dir=/consul/config "$@"
elif consul "$1" --help >/dev/null 2>&1; then
  set -- consul "$@"
fi
exec "$@"
"""

_NPM = """\
#!/bin/sh
# `npm pack NAME@VERSION` for the packages this image was built with, into the current
# folder (as npm names the file): the test node's pods reach no npm registry, so this
# test image serves the package leapfrog's own cache holds (the one `up` installs).
[ "$1" = pack ] || { echo "npm (leapfrog's test image): only 'npm pack' is here" >&2; exit 1; }
shift
for spec in "$@"; do
  case "$spec" in -*) continue ;; esac
  file=$(printf %s "$spec" | sed 's,^@,,; s,/,-,; s,@,-,').tgz
  if [ ! -f "/usr/share/leapfrog/npm/$file" ]; then
    echo "npm (leapfrog's test image): $spec is not bundled" >&2
    exit 1
  fi
  cp "/usr/share/leapfrog/npm/$file" "./$file"
  echo "$file"
done
"""

RECIPES: dict[str, ProgramRecipe] = {
    recipe.part: recipe
    for recipe in (
        ProgramRecipe(
            part="zookeeper",
            packages=(JAVA, "netbase"),
            users=(("zookeeper", 1000, 1000),),
            scripts={"/usr/local/bin/zkServer.sh": Script(_ZK_SERVER)},
            jars="zookeeper",
            env={"PATH": _PATH, "ZOOCFGDIR": "/conf", "ZOO_LOG_DIR": "/logs", "LANG": "C.UTF-8"},
            cmd=("zkServer.sh", "start-foreground"),
            user="1000:1000",
        ),
        ProgramRecipe(
            part="kafka",
            packages=(JAVA, "netbase"),
            users=(("appuser", 1000, 1000),),
            scripts={
                f"/opt/kafka/bin/{name}": Script(_JAVA_LAUNCHER.format(what=name, main=main))
                for name, main in _KAFKA_TOOLS.items()
            },
            jars="kafka",
            env={"PATH": f"/opt/kafka/bin:{_PATH}", "LANG": "C.UTF-8"},
            cmd=("/opt/kafka/bin/kafka-server-start.sh", "/etc/leapfrog/kafka/server.properties"),
            user="1000:1000",
        ),
        ProgramRecipe(
            part="postgres",
            # Debian 12's PostgreSQL, the one `up` runs (the official image would be 17).
            packages=("postgresql-15", "gzip", "netbase"),
            # LLVM (a third of the image) only serves JIT compilation, which PostgreSQL
            # skips when its provider cannot be loaded.
            excludes=(
                "/usr/lib/x86_64-linux-gnu/libLLVM-*",
                "/usr/lib/postgresql/15/lib/llvmjit*",
                "/usr/lib/postgresql/15/lib/bitcode/*",
            ),
            users=(("postgres", 999, 999),),
            # No cluster of the package's own: the pods initialise their $PGDATA.
            hooks=('rm -rf "$1/var/lib/postgresql/15" "$1/etc/postgresql/15"',),
            scripts={"/usr/local/bin/docker-entrypoint.sh": Script(_PG_ENTRYPOINT)},
            env={
                "PATH": f"/usr/lib/postgresql/15/bin:{_PATH}",
                "PGDATA": "/var/lib/postgresql/data",
                "LANG": "C.UTF-8",
            },
            entrypoint=("docker-entrypoint.sh",),
            cmd=("postgres",),
            user="999:999",
        ),
        ProgramRecipe(
            part="haproxy",
            packages=("haproxy", "netbase"),
            users=(("haproxy", 99, 99),),
            env={"PATH": _PATH, "LANG": "C.UTF-8"},
            cmd=("haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"),
            user="99:99",
        ),
        ProgramRecipe(
            part="consul",
            packages=MINIMAL,
            variant="custom",
            users=(("consul", 100, 1000),),
            scripts={"/usr/local/bin/docker-entrypoint.sh": Script(_CONSUL_ENTRYPOINT)},
            binaries={"/usr/local/bin/consul": "consul"},
            env={"PATH": _PATH, "LANG": "C.UTF-8"},
            entrypoint=("docker-entrypoint.sh",),
            cmd=("agent", "-dev", "-client", "0.0.0.0"),
            user="100:1000",
        ),
        ProgramRecipe(
            part="node",
            packages=MINIMAL,
            variant="custom",
            users=(("node", 1000, 1000),),
            scripts={"/usr/local/bin/npm": Script(_NPM)},
            npm=("eventide-message-db-1.3.1",),
            env={"PATH": _PATH, "LANG": "C.UTF-8"},
            cmd=("npm",),
            user="1000:1000",
        ),
    )
}
"""The images by `kubernetes.images` key: what the example stack's Kafka, ZooKeeper,
PostgreSQL (and its Message DB Job's `node`), HAProxy and Consul run on the test node."""
