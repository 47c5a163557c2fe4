"""The console on Kubernetes: `leapfrog console serve` in the leapfrog image, one
Deployment and its Service, reading the real Consul and the stores through the env the
other components give services. It has no supervisor there (the overview says so).

Next to it, from the same stores: Grafana with the console's dashboards (when the stack
has InfluxDB or OpenSearch) and OpenSearch Dashboards (when it has OpenSearch), each
optional (`grafana`, `opensearch_dashboards`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from leapfrog.components import kube as k
from leapfrog.components._grafana_kube import render_grafana
from leapfrog.components._osd_kube import render_opensearch_dashboards

if TYPE_CHECKING:
    from leapfrog.components.console import ConsoleOptions

__all__ = ["render_console"]

_STORES = ("OPENSEARCH_URL", "INFLUXDB_URL", "FLINK_URL")


def render_console(port: int, options: ConsoleOptions, kube: k.KubeContext) -> k.KubeRender:
    console = _console(port, options.logs_index, options.metrics_database, kube)
    given = {entry["name"]: entry.get("value") for entry in kube.platform_env}
    influxdb, opensearch = given.get("INFLUXDB_URL"), given.get("OPENSEARCH_URL")
    parts = [console]
    if options.grafana and (influxdb or opensearch):
        grafana = render_grafana(
            options.grafana_version,
            kube,
            influxdb_url=influxdb,
            opensearch_url=opensearch,
            database=options.metrics_database,
            logs_index=options.logs_index,
            opensearch_version=options.opensearch_dashboards_version,
        )
        parts.append(grafana)
    if options.opensearch_dashboards and opensearch:
        parts.append(
            render_opensearch_dashboards(
                options.opensearch_dashboards_version,
                kube,
                opensearch_url=opensearch,
                logs_index=options.logs_index,
            )
        )
    return k.KubeRender(
        [o for part in parts for o in part.objects],
        console.env,
        [s for part in parts for s in part.secrets],
        ports=console.ports,
    )


def _console(
    port: int, logs_index: str, metrics_database: str, kube: k.KubeContext
) -> k.KubeRender:
    given = {entry["name"]: entry for entry in kube.platform_env}
    env: list[dict[str, Any]] = [
        *(e for e in kube.catalog_env if e["name"] == "CONSUL_HTTP_ADDR"),
        *(given[name] for name in _STORES if name in given),
        {"name": "HOME", "value": "/tmp"},
        {"name": "LEAPFROG_STACK", "value": kube.stack},
    ]
    health = {"httpGet": {"path": "/healthz", "port": port}}
    volumes, mounts = k.empty_dirs("/tmp")
    command = [
        "leapfrog", "console", "serve",
        "--listen", f"0.0.0.0:{port}",
        "--logs-index", logs_index,
        "--metrics-database", metrics_database,
    ]  # fmt: skip
    container = {
        "name": "console",
        "image": kube.image("leapfrog"),
        "command": command,
        "env": env,
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": {**health, "periodSeconds": 5},
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 6},
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "96Mi", memory_limit="256Mi"),
        "volumeMounts": mounts,
    }
    pod = {
        "securityContext": k.pod_security(10001),
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 10,
        "containers": [container],
        "volumes": volumes,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": kube.meta("console", "console"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": kube.selector("console")},
            "template": {"metadata": {"labels": kube.labels("console", "console")}, "spec": pod},
        },
    }
    objects = [k.service(kube, "console", "console", "console", {"http": port}), deployment]
    url = f"http://console.{kube.namespace}.svc:{port}"
    return k.KubeRender(
        objects, [{"name": "LEAPFROG_CONSOLE_URL", "value": url}], ports={"http": port}
    )
