"""Flink on Kubernetes: the Flink Kubernetes Operator's resources when the stack says the
operator is installed (`kubernetes: {operator: true}`), otherwise a standalone session
cluster from the official `flink` image.

Standalone: a JobManager Deployment (one replica) behind a Service (`flink-jobmanager`: REST, RPC,
blob), and a TaskManager Deployment of `taskmanagers` replicas that register with it.
Both run Flink's own `jobmanager.sh` / `taskmanager.sh start-foreground` (not the image's
entrypoint, which rewrites its configuration in place) with the configuration leapfrog
writes in a ConfigMap, under a read-only root; scratch, pid and log folders are emptyDirs.

Operator: a `FlinkDeployment` in session mode (the cluster: JobManager, `taskmanagers`
TaskManagers, the same settings) and one `FlinkSessionJob` per PyFlink job, run by
Flink's `PythonDriver` from the script mounted out of the `flink-jobs` ConfigMap, with
`upgradeMode: savepoint` (a changed job stops with a savepoint and resumes from it). The
operator submits jars, so a SQL job (and the statistics job) is refused with a hint.

Both: checkpoints and savepoints on the `flink-checkpoints` claim (ReadWriteMany, mounted
by every Flink pod at /flink-data) or under an `s3://` path with Flink's S3 plugin.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from leapfrog.components import kube as k
from leapfrog.components._flink_config import (
    CONNECTORS,
    FlinkOptions,
    config_yaml,
    log4j_console_properties,
)
from leapfrog.components._flink_jobs import RESTART_SETTINGS
from leapfrog.components._flink_stats import JOB_NAME as STATS_JOB
from leapfrog.components._flink_stats import STATE_VERSION, stats_sql
from leapfrog.components.base import NotSupported, from_stack_dir

__all__ = ["render_flink"]

NAME = "flink"
JOBMANAGER = "flink-jobmanager"
TASKMANAGER = "flink-taskmanager"
_UID = 9999  # flink in the official image
_HOME = "/opt/flink"
_CONF = "/etc/flink"
_SCRATCH = "/tmp/flink"
CHECKPOINTS = "flink-checkpoints"
JOBS = "flink-jobs"
_DATA = "/flink-data"
_JOB_FILES = "/opt/flink/usrlib/leapfrog-jobs"
_PLUGINS = "/tmp/plugins"
_PYTHON_DRIVER = "org.apache.flink.client.python.PythonDriver"
OPERATOR_API = "flink.apache.org/v1beta1"
MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
_SUBMIT_DIR = "/etc/flink-jobs"
_WORK = "/tmp/work"
_KUBE_MODULES: dict[str, tuple[str, ...]] = {
    "org.apache.flink:flink-connector-jdbc-postgres:4.0.0-2.0": (
        "org.apache.flink:flink-connector-jdbc-core:4.0.0-2.0",
    ),
}
"""Connector modules a connector needs beside itself (locally Maven resolves them)."""


class _SqlJob(NamedTuple):
    name: str
    sql: str
    jars: list[str]
    """Maven coordinates of the connector jars it ships with."""
    settings: dict[str, str]
    state_version: str = ""
    """Leapfrog's own job's (`_flink_stats.STATE_VERSION`); see _flink_kube_submit."""


def _s3(options: FlinkOptions) -> bool:
    return options.kubernetes.checkpoints.startswith("s3://")


def _storage_settings(options: FlinkOptions) -> dict[str, str]:
    base = options.kubernetes.checkpoints.rstrip("/") if _s3(options) else f"file://{_DATA}"
    return {
        "execution.checkpointing.dir": f"{base}/checkpoints",
        "execution.checkpointing.savepoint-dir": f"{base}/savepoints",
        "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
    }


def _s3_plugin(options: FlinkOptions) -> str:
    return f"flink-s3-fs-presto-{options.version}.jar"


def _checkpoint_claim(options: FlinkOptions, kube: k.KubeContext) -> k.Manifest:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],  # the JobManager and every TaskManager write
        "resources": {"requests": {"storage": kube.storage.get("flink", "10Gi")}},
    }
    if kube.storage_class:
        spec["storageClassName"] = kube.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": kube.meta(CHECKPOINTS, "stream-processing", options.version, app=NAME),
        "spec": spec,
    }


def _settings(options: FlinkOptions) -> dict[str, str]:
    interval_ms = round(options.checkpoint_seconds() * 1000)
    settings = {
        "jobmanager.rpc.address": JOBMANAGER,
        "jobmanager.rpc.port": str(options.rpc_port),
        "jobmanager.bind-host": "0.0.0.0",
        "jobmanager.memory.process.size": options.jobmanager_memory,
        "blob.server.port": str(options.blob_port),
        "rest.address": JOBMANAGER,
        "rest.bind-address": "0.0.0.0",
        "rest.port": str(options.port),
        "taskmanager.bind-host": "0.0.0.0",
        "taskmanager.numberOfTaskSlots": str(options.slots),
        "taskmanager.memory.process.size": options.taskmanager_memory,
        "io.tmp.dirs": _SCRATCH,
        "web.tmpdir": f"{_SCRATCH}/web",
        "execution.checkpointing.interval": f"{interval_ms}ms",
        **_storage_settings(options),
    }
    settings.update(options.config)
    return settings


def _container(
    name: str,
    image: str,
    argv: list[str],
    memory: str,
    ports: dict[str, int],
    *,
    options: FlinkOptions,
) -> dict[str, Any]:
    volumes_mounts = [
        {"name": "config", "mountPath": _CONF, "readOnly": True},
        {"name": "scratch", "mountPath": "/tmp"},
    ]
    extra_env = []
    if _s3(options):  # the plugin copied into scratch by the init container
        extra_env.append({"name": "FLINK_PLUGINS_DIR", "value": _PLUGINS})
    else:
        volumes_mounts.append({"name": "checkpoints", "mountPath": _DATA})
    return {
        "name": name,
        "image": image,
        "command": argv,
        "env": [
            {"name": "FLINK_CONF_DIR", "value": _CONF},
            {"name": "FLINK_LOG_DIR", "value": "/tmp/log"},
            {"name": "FLINK_PID_DIR", "value": "/tmp"},
            {"name": "LEAPFROG_FLINK_PROCESS", "value": name},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            *extra_env,
        ],
        "ports": [{"name": n, "containerPort": p} for n, p in ports.items()],
        "securityContext": k.container_security(),
        "resources": k.resources("250m", k.heap_plus(memory, 0)),
        "volumeMounts": volumes_mounts,
    }


def _deployment(
    options: FlinkOptions, kube: k.KubeContext, name: str, replicas: int, container: Any
) -> k.Manifest:
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{NAME}-config"}},
        {"name": "scratch", "emptyDir": {}},
    ]
    if not _s3(options):
        volumes.append({"name": "checkpoints", "persistentVolumeClaim": {"claimName": CHECKPOINTS}})
    pod = k.restricted_pod(_UID, [container], volumes)
    if _s3(options):
        # Flink loads the S3 filesystem as a plugin; the image's entrypoint (not used:
        # it rewrites its configuration in place) would copy it from opt/ into plugins/.
        plugin = f"{_PLUGINS}/s3-fs-presto"
        pod["initContainers"] = [
            {
                "name": "s3-plugin",
                "image": container["image"],
                "command": [
                    "sh",
                    "-c",
                    f"mkdir -p {plugin} && cp {_HOME}/opt/{_s3_plugin(options)} {plugin}/",
                ],
                "securityContext": k.container_security(),
                "resources": k.resources("50m", "64Mi"),
                "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": kube.meta(name, "stream-processing", options.version, app=name),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": kube.selector(name)},
            "template": {
                "metadata": {"labels": kube.labels(name, "stream-processing", options.version)},
                "spec": pod,
            },
        },
    }


def render_flink(options: FlinkOptions, kube: k.KubeContext) -> k.KubeRender:
    if options.kubernetes.operator:
        return _render_operator(options, kube)
    python = [n for n, j in options.jobs.items() if j.kind == "python"]
    if python:
        raise NotSupported(
            f"flink's PyFlink jobs ({', '.join(python)}) need the Flink Kubernetes Operator "
            "on Kubernetes (the official image has no Python): set `kubernetes: {operator: "
            "true}`, or write the job in SQL"
        )
    image = kube.image("flink", options.version)
    rest = {"rest": options.port, "rpc": options.rpc_port, "blob": options.blob_port}
    ready = {"tcpSocket": {"port": options.port}}
    jobmanager = _container(
        "jobmanager",
        image,
        [f"{_HOME}/bin/jobmanager.sh", "start-foreground"],
        options.jobmanager_memory,
        rest,
        options=options,
    )
    jobmanager["readinessProbe"] = {**ready, "periodSeconds": 5}
    jobmanager["livenessProbe"] = {**ready, "periodSeconds": 10, "failureThreshold": 6}
    taskmanager = _container(
        "taskmanager",
        image,
        [
            f"{_HOME}/bin/taskmanager.sh",
            "start-foreground",
            "-Dtaskmanager.host=$(POD_IP)",
        ],
        options.taskmanager_memory,
        {},
        options=options,
    )
    config = {
        "config.yaml": config_yaml(_settings(options)),
        "log4j-console.properties": log4j_console_properties(),
    }
    objects = [
        k.config_map(kube, f"{NAME}-config", NAME, config),
        k.service(kube, JOBMANAGER, JOBMANAGER, "stream-processing", rest),
        _deployment(options, kube, JOBMANAGER, 1, jobmanager),
        _deployment(options, kube, TASKMANAGER, options.taskmanagers, taskmanager),
    ]
    if not _s3(options):
        objects.insert(1, _checkpoint_claim(options, kube))
    url = f"http://{JOBMANAGER}.{kube.namespace}.svc:{options.port}"
    objects += _submitted_jobs(options, kube, url)
    return k.KubeRender(
        objects, [{"name": "FLINK_REST_URL", "value": url}], ports={"flink": options.port}
    )


# -- SQL jobs on the standalone cluster: a submit Job each -------------------------------


def _maven_url(coordinates: str) -> str:
    group, artifact, version = coordinates.split(":")
    folder = f"{group.replace('.', '/')}/{artifact}/{version}"
    return f"{MAVEN_CENTRAL}/{folder}/{artifact}-{version}.jar"


def _sql_jobs(options: FlinkOptions, kube: k.KubeContext) -> list[_SqlJob]:
    """Each SQL job of the stack file, and the statistics job."""
    jobs = []
    for name, job in options.jobs.items():
        # Read at render: the SQL goes into the ConfigMap, and a changed file is a new Job.
        path = from_stack_dir(job.file, kube.stack_dir)
        try:
            sql = path.read_text()
        except OSError as exc:
            raise NotSupported(f"flink job {name}: cannot read {path}: {exc.strerror}") from None
        jars = [c for coordinates in job.coordinates() for c in _with_modules(coordinates)]
        settings = {
            "parallelism.default": str(job.parallelism),
            **RESTART_SETTINGS[job.restart_strategy],
        }
        jobs.append(_SqlJob(name, sql, jars, settings))
    if options.service_stats is not None:
        settings = {
            "parallelism.default": str(options.service_stats.parallelism),
            **RESTART_SETTINGS["exponential-delay"],
        }
        sql = stats_sql(options.service_stats)
        jobs.append(_SqlJob(STATS_JOB, sql, [CONNECTORS["kafka"]], settings, STATE_VERSION))
    return jobs


def _with_modules(coordinates: str) -> list[str]:
    """A connector's jar and the connector modules it needs beside Flink's own (locally,
    Maven resolves them; here each is fetched by name)."""
    return [coordinates, *_KUBE_MODULES.get(coordinates, ())]


def _submitted_jobs(options: FlinkOptions, kube: k.KubeContext, rest: str) -> list[k.Manifest]:
    """The `flink-jobs` ConfigMap and a submit Job per SQL job (see _flink_kube_submit)."""
    jobs = _sql_jobs(options, kube)
    if not jobs:
        return []
    client = {
        key: value
        for key, value in _settings(options).items()
        if "bind-" not in key and not key.startswith("taskmanager.")
    }
    files = {
        "submit.py": (Path(__file__).parent / "_flink_kube_submit.py").read_text(),
        "config.yaml": config_yaml(client),
        "log4j-cli.properties": log4j_console_properties(),
    }
    files.update({f"{job.name}.sql": job.sql for job in jobs})
    objects = [k.config_map(kube, JOBS, NAME, files)]
    for job in jobs:
        # Only what its SQL names (`${KAFKA_BOOTSTRAP_SERVERS}`): not the catalog's token.
        env = [dict(e) for e in kube.platform_env if _names(job.sql, str(e["name"]))]
        names = " ".join(f"${{{entry['name']}}}" for entry in env)
        objects.append(_submit_job(options, kube, rest, job, env=env, names=names))
    return objects


def _names(sql: str, variable: str) -> bool:
    return re.search(rf"\$(\{{{variable}\}}|{variable}\b)", sql) is not None


def _submit_job(
    options: FlinkOptions,
    kube: k.KubeContext,
    rest: str,
    job: _SqlJob,
    *,
    env: list[dict[str, Any]],
    names: str,
) -> k.Manifest:
    digest = hashlib.sha256(json.dumps([job.sql, job.settings]).encode()).hexdigest()[:12]
    prepare = [
        "python", f"{_SUBMIT_DIR}/submit.py", "--rest", rest, "--job", job.name,
        "--digest", digest, "--work", _WORK,
        *(arg for c in job.jars for arg in ("--jar", _maven_url(c))),
        *(arg for key, value in job.settings.items() for arg in ("--set", f"{key}={value}")),
        *(("--state-version", job.state_version) if job.state_version else ()),
    ]  # fmt: skip
    jars = " ".join(f"--jar {_WORK}/jars/{_maven_url(c).rsplit('/', 1)[-1]}" for c in job.jars)
    # Only the platform's variables are replaced: a `$` elsewhere in the SQL stays.
    substitute = f"envsubst '{names}'" if names else "cat"
    script = (
        "set -e\n"
        f'if [ -e {_WORK}/skip ]; then echo "$(cat {_WORK}/skip) runs already"; exit 0; fi\n'
        f"{substitute} < {_SUBMIT_DIR}/{job.name}.sql > {_WORK}/job.sql\n"
        f"exec {_HOME}/bin/sql-client.sh --history {_WORK}/history "
        f"-i {_WORK}/init.sql -f {_WORK}/job.sql {jars}\n"
    )
    mounts = [
        {"name": "jobs", "mountPath": _SUBMIT_DIR, "readOnly": True},
        {"name": "work", "mountPath": "/tmp"},
    ]
    init = {
        "name": "prepare",
        "image": kube.image("python"),
        "command": prepare,
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "64Mi"),
        "volumeMounts": mounts,
    }
    submit = {
        "name": "submit",
        "image": kube.image("flink", options.version),
        "command": ["sh", "-c", script],
        "env": [
            *env,
            {"name": "FLINK_CONF_DIR", "value": _SUBMIT_DIR},
            {"name": "FLINK_LOG_DIR", "value": "/tmp/log"},
        ],
        "securityContext": k.container_security(),
        "resources": k.resources("100m", "512Mi"),
        "volumeMounts": mounts,
    }
    volumes = [
        {"name": "jobs", "configMap": {"name": JOBS}},
        {"name": "work", "emptyDir": {}},
    ]
    pod = k.restricted_pod(_UID, [submit], volumes)
    pod["initContainers"] = [init]
    return k.job(kube, f"{NAME}-job-{job.name}"[:48], pod)


# -- the Flink Kubernetes Operator ------------------------------------------------------


def _operator_settings(options: FlinkOptions) -> dict[str, str]:
    """The session cluster's settings; the operator adds the addresses and memory."""
    interval_ms = round(options.checkpoint_seconds() * 1000)
    settings = {
        "taskmanager.numberOfTaskSlots": str(options.slots),
        "execution.checkpointing.interval": f"{interval_ms}ms",
        **_storage_settings(options),
    }
    settings.update(options.config)
    return settings


def _job_path(name: str) -> str:
    return str(PurePosixPath(_JOB_FILES) / f"{name}.py")


def _session_job(options: FlinkOptions, kube: k.KubeContext, name: str, digest: str) -> k.Manifest:
    job = options.jobs[name]
    return {
        "apiVersion": OPERATOR_API,
        "kind": "FlinkSessionJob",
        "metadata": kube.meta(f"{NAME}-{name}", "stream-processing", options.version, app=NAME),
        "spec": {
            "deploymentName": NAME,
            "flinkConfiguration": {"pipeline.name": name, **RESTART_SETTINGS[job.restart_strategy]},
            "job": {
                # No jarURI: PythonDriver is on the cluster's classpath (a PyFlink image).
                "entryClass": _PYTHON_DRIVER,
                "args": ["-py", _job_path(name)],
                "parallelism": job.parallelism,
                "upgradeMode": "savepoint",
                "allowNonRestoredState": True,
                "state": "running",
            },
            # A changed script is a new spec: the operator upgrades the job through a
            # savepoint (the ConfigMap's files reach the pod in about a minute).
            "restartNonce": int(digest[:12], 16) % (2**31),
        },
    }


def _render_operator(options: FlinkOptions, kube: k.KubeContext) -> k.KubeRender:
    sql = [n for n, j in options.jobs.items() if j.kind != "python"]
    if sql or options.service_stats is not None:
        what = ", ".join(sql) or "service_stats"
        raise NotSupported(
            f"flink's SQL jobs cannot be FlinkSessionJobs ({what}): the operator submits "
            "programs, not SQL files; write the job as a PyFlink script (`.py`, running "
            "its SQL with t_env.execute_sql), or render without `kubernetes.operator`"
        )
    scripts: dict[str, str] = {}
    for name, job in options.jobs.items():
        try:
            scripts[f"{name}.py"] = from_stack_dir(job.file, kube.stack_dir).read_text()
        except OSError as exc:
            raise NotSupported(
                f"flink job {name}: cannot read {job.file}: {exc.strerror}"
            ) from None
    image = kube.image("flink", options.version)
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    env: list[dict[str, Any]] = []
    if _s3(options):  # the image's entrypoint enables the bundled plugin
        env.append({"name": "ENABLE_BUILT_IN_PLUGINS", "value": _s3_plugin(options)})
    else:
        volumes.append({"name": "checkpoints", "persistentVolumeClaim": {"claimName": CHECKPOINTS}})
        mounts.append({"name": "checkpoints", "mountPath": _DATA})
    if scripts:
        volumes.append({"name": "jobs", "configMap": {"name": JOBS}})
        mounts.append({"name": "jobs", "mountPath": _JOB_FILES, "readOnly": True})
    main: dict[str, Any] = {
        "name": "flink-main-container",
        # The image's entrypoint writes its configuration: no read-only root here.
        "securityContext": k.container_security(read_only_root=False),
    }
    if mounts:
        main["volumeMounts"] = mounts
    if env:
        main["env"] = env
    pod_template: dict[str, Any] = {
        "spec": {
            "securityContext": k.pod_security(_UID),
            "containers": [main],
            **({"volumes": volumes} if volumes else {}),
        }
    }
    deployment = {
        "apiVersion": OPERATOR_API,
        "kind": "FlinkDeployment",
        "metadata": kube.meta(NAME, "stream-processing", options.version),
        "spec": {
            "image": image,
            "flinkVersion": "v" + "_".join(options.version.split(".")[:2]),
            "serviceAccount": options.kubernetes.service_account,
            "flinkConfiguration": _operator_settings(options),
            "podTemplate": pod_template,
            "jobManager": {
                "replicas": 1,
                "resource": {"cpu": 0.5, "memory": options.jobmanager_memory},
            },
            "taskManager": {
                "replicas": options.taskmanagers,
                "resource": {"cpu": 0.5, "memory": options.taskmanager_memory},
            },
        },
    }
    objects: list[k.Manifest] = []
    if not _s3(options):
        objects.append(_checkpoint_claim(options, kube))
    if scripts:
        objects.append(k.config_map(kube, JOBS, NAME, scripts))
    objects.append(deployment)
    for name in options.jobs:
        objects.append(_session_job(options, kube, name, k.content_hash(scripts[f"{name}.py"])))
    # The operator's REST Service of a FlinkDeployment is `<name>-rest`.
    url = f"http://{NAME}-rest.{kube.namespace}.svc:{options.port}"
    return k.KubeRender(
        objects, [{"name": "FLINK_REST_URL", "value": url}], ports={"flink": options.port}
    )
