"""Grafana on Kubernetes, next to the console: the official grafana/grafana image, its
InfluxDB and OpenSearch datasources and the console's own dashboards (`dashboards.py`)
provisioned from ConfigMaps, so Grafana shows what the Metrics page shows.

The dashboards are `DASHBOARDS` turned into Grafana's JSON model: each panel a time
series with its InfluxQL query as written (Grafana expands the same macros), its unit and
min interval; the Service dashboard's `$service` a variable listing the services that
report figures. OpenSearch is Grafana's OpenSearch plugin (`grafana-opensearch-datasource`,
pinned), installed by Grafana itself before it starts."""

from __future__ import annotations

import json
from typing import Any

import yaml

from leapfrog.components import kube as k
from leapfrog.components.dashboards import DASHBOARDS, Dashboard

__all__ = ["GRAFANA_PORT", "OPENSEARCH_PLUGIN", "grafana_json", "render_grafana"]

NAME = "grafana"
GRAFANA_PORT = 3000
OPENSEARCH_PLUGIN = "grafana-opensearch-datasource@2.32.1"
"""Grafana's OpenSearch datasource (not bundled with Grafana), pinned."""
INFLUX_UID = "leapfrog-influxdb"
OPENSEARCH_UID = "leapfrog-opensearch"
_UID = 472  # grafana in the official image
_DASHBOARDS = "/etc/grafana/dashboards"
_PROVISIONING = "/etc/grafana/provisioning"
_UNITS = {"": "short", "bytes": "bytes", "percent": "percent", "/s": "cps", "ms": "ms"}
"""The console's units as Grafana's unit ids ("cores" has none: a plain number)."""
_SERVICES = 'SHOW TAG VALUES FROM "leapfrog_instance_rss_bytes" WITH KEY = "service"'
"""The values of the Service dashboard's variable: every service the supervisor measures."""


def grafana_json(board: Dashboard, datasource: str = INFLUX_UID) -> dict[str, Any]:
    """One dashboard in Grafana's JSON model (schema 39), two panels a row."""
    source = {"type": "influxdb", "uid": datasource}
    panels: list[dict[str, Any]] = []
    for index, panel in enumerate(board.panels):
        entry: dict[str, Any] = {
            "id": index + 1,
            "type": "timeseries",
            "title": panel.title,
            "gridPos": {"x": (index % 2) * 12, "y": (index // 2) * 8, "w": 12, "h": 8},
            "datasource": source,
            "fieldConfig": {"defaults": {"unit": _UNITS.get(panel.unit, "short")}, "overrides": []},
            "options": {
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "none"},
            },
            "targets": [
                {
                    "refId": "A",
                    "datasource": source,
                    "query": panel.query,
                    "rawQuery": True,
                    "resultFormat": "time_series",
                }
            ],
        }
        if panel.unit == "cores":
            entry["description"] = "CPU cores in use"
        if panel.min_interval:
            entry["interval"] = f"{panel.min_interval}s"
        panels.append(entry)
    variables: list[dict[str, Any]] = []
    if board.variable == "service":
        variables.append(
            {
                "name": "service",
                "label": "service",
                "type": "query",
                "datasource": source,
                "query": _SERVICES,
                "definition": _SERVICES,
                "refresh": 2,  # on every time range change
                "sort": 1,
                "multi": False,
                "includeAll": False,
            }
        )
    return {
        "uid": f"leapfrog-{board.name}",
        "title": f"leapfrog · {board.title}",
        "tags": ["leapfrog"],
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "timezone": "utc",
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": variables},
        "panels": panels,
    }


def _datasources(
    influxdb_url: str | None,
    opensearch_url: str | None,
    database: str,
    logs_index: str,
    opensearch_version: str,
) -> str:
    sources: list[dict[str, Any]] = []
    if influxdb_url:
        sources.append(
            {
                "name": "InfluxDB (metrics)",
                "uid": INFLUX_UID,
                "type": "influxdb",
                "access": "proxy",
                "url": influxdb_url,
                "isDefault": True,
                "editable": False,
                "database": database,
                "jsonData": {"dbName": database, "httpMode": "GET"},
            }
        )
    if opensearch_url:
        sources.append(
            {
                "name": "OpenSearch (logs)",
                "uid": OPENSEARCH_UID,
                "type": "grafana-opensearch-datasource",
                "access": "proxy",
                "url": opensearch_url,
                "isDefault": not influxdb_url,
                "editable": False,
                "jsonData": {
                    "database": f"{logs_index}-*",
                    "flavor": "opensearch",
                    "version": opensearch_version,
                    "timeField": "@timestamp",
                    "logMessageField": "message",
                    "logLevelField": "level",
                    "maxConcurrentShardRequests": 5,
                    "pplEnabled": True,
                },
            }
        )
    return yaml.safe_dump({"apiVersion": 1, "datasources": sources}, sort_keys=False)


_PROVIDER = yaml.safe_dump(
    {
        "apiVersion": 1,
        "providers": [
            {
                "name": "leapfrog",
                "folder": "leapfrog",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": _DASHBOARDS},
            }
        ],
    },
    sort_keys=False,
)


def render_grafana(
    version: str,
    kube: k.KubeContext,
    *,
    influxdb_url: str | None,
    opensearch_url: str | None,
    database: str,
    logs_index: str,
    opensearch_version: str,
) -> k.KubeRender:
    """Grafana's Deployment and Service, its provisioning and dashboards (ConfigMaps), a
    generated admin password (Secret `grafana-admin`) and its NetworkPolicy (the stack's
    pods may reach it; `kubectl port-forward svc/grafana 3000` from outside)."""
    provisioning = {
        "datasources.yaml": _datasources(
            influxdb_url, opensearch_url, database, logs_index, opensearch_version
        ),
        "dashboards.yaml": _PROVIDER,
    }
    boards = (
        {f"{b.name}.json": json.dumps(grafana_json(b), indent=1) for b in DASHBOARDS}
        if influxdb_url
        else {}
    )
    env: list[dict[str, Any]] = [
        {"name": "GF_SECURITY_ADMIN_USER", "value": "admin"},
        k.secret_env("GF_SECURITY_ADMIN_PASSWORD", f"{NAME}-admin", "password"),
        {"name": "GF_USERS_ALLOW_SIGN_UP", "value": "false"},
        {"name": "GF_ANALYTICS_REPORTING_ENABLED", "value": "false"},
        {"name": "GF_ANALYTICS_CHECK_FOR_UPDATES", "value": "false"},
        {"name": "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "value": "false"},
        {"name": "GF_PATHS_DATA", "value": "/var/lib/grafana"},
        {"name": "GF_PATHS_LOGS", "value": "/var/log/grafana"},
        {"name": "GF_PATHS_PROVISIONING", "value": _PROVISIONING},
    ]
    if opensearch_url:
        env.append({"name": "GF_PLUGINS_PREINSTALL_SYNC", "value": OPENSEARCH_PLUGIN})
    if boards:
        env.append(
            {
                "name": "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
                "value": f"{_DASHBOARDS}/platform.json",
            }
        )
    health = {"httpGet": {"path": "/api/health", "port": GRAFANA_PORT}}
    volumes, mounts = k.empty_dirs("/var/lib/grafana", "/var/log/grafana", "/tmp")
    volumes += [
        {"name": "provisioning", "configMap": {"name": f"{NAME}-provisioning"}},
        {"name": "dashboards", "configMap": {"name": f"{NAME}-dashboards"}},
    ]
    mounts += [
        {
            "name": "provisioning",
            "mountPath": f"{_PROVISIONING}/{kind}/leapfrog.yaml",
            "subPath": f"{kind}.yaml",
            "readOnly": True,
        }
        for kind in ("datasources", "dashboards")
    ]
    mounts.append({"name": "dashboards", "mountPath": _DASHBOARDS, "readOnly": True})
    container = {
        "name": NAME,
        "image": kube.image(NAME, version),
        "env": env,
        "ports": [{"name": "http", "containerPort": GRAFANA_PORT}],
        "readinessProbe": {**health, "periodSeconds": 5},
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 6},
        # Installing the OpenSearch plugin comes before the first answer.
        "startupProbe": {**health, "periodSeconds": 2, "failureThreshold": 150},
        "securityContext": k.container_security(),
        "resources": k.resources("50m", "128Mi", memory_limit="512Mi"),
        "volumeMounts": mounts,
    }
    pod = k.restricted_pod(_UID, [container], volumes, grace=10)
    # A new provisioning or dashboard rolls the pods (subPath mounts never update).
    checksum = k.content_hash(provisioning, boards)
    deployment = k.deployment(kube, NAME, "dashboards", version, pod, config=checksum)
    objects = [
        k.config_map(kube, f"{NAME}-provisioning", NAME, provisioning),
        k.config_map(kube, f"{NAME}-dashboards", NAME, boards),
        k.service(kube, NAME, NAME, "dashboards", {"http": GRAFANA_PORT}),
        deployment,
        k.stack_ingress(kube, NAME, GRAFANA_PORT),
    ]
    secret = k.KubeSecret(f"{NAME}-admin", NAME, {"password": "password"})
    return k.KubeRender(objects, [], [secret])
