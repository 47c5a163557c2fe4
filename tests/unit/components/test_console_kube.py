"""The console rendered to Kubernetes with Grafana and OpenSearch Dashboards next to it:
Grafana's datasources are the stack's InfluxDB and OpenSearch, its dashboards are the
console's definitions in Grafana's JSON model, images are pinned official ones, and
either UI is left out when its store is missing or the stack file turns it off."""

from __future__ import annotations

from typing import Any

import yaml

from leapfrog.components import component
from leapfrog.components._grafana_kube import OPENSEARCH_PLUGIN, grafana_json
from leapfrog.components.dashboards import DASHBOARDS
from leapfrog.components.kube import KubeContext

INFLUX = "http://influxdb-0.influxdb.ns.svc:8086"
OPENSEARCH = "http://opensearch-0.opensearch.ns.svc:9200"
STORES = (
    {"name": "INFLUXDB_URL", "value": INFLUX},
    {"name": "OPENSEARCH_URL", "value": OPENSEARCH},
)


def _render(options: dict[str, Any], env: tuple[dict[str, Any], ...] = STORES) -> Any:
    comp = component("console")
    kube = KubeContext(namespace="ns", stack="s", platform_env=env)
    return comp.render_kubernetes(comp.options(options), kube)


def _objects(rendered: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o for o in rendered.objects}


def _container(objects: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    [container] = objects["Deployment", name]["spec"]["template"]["spec"]["containers"]
    return container


def test_grafana_and_opensearch_dashboards_render_next_to_the_console() -> None:
    rendered = _render({"metrics_database": "metrics"})
    objects = _objects(rendered)
    assert {name for kind, name in objects if kind == "Deployment"} == {
        "console",
        "grafana",
        "opensearch-dashboards",
    }
    assert _container(objects, "grafana")["image"] == "grafana/grafana:12.2.1"
    osd = _container(objects, "opensearch-dashboards")
    assert osd["image"] == "opensearchproject/opensearch-dashboards:2.19.1"
    config = objects["ConfigMap", "opensearch-dashboards-config"]["data"]
    assert yaml.safe_load(config["opensearch_dashboards.yml"])["opensearch.hosts"] == [OPENSEARCH]
    assert osd["securityContext"]["readOnlyRootFilesystem"] is True
    [plugins] = objects["Deployment", "opensearch-dashboards"]["spec"]["template"]["spec"][
        "initContainers"
    ]
    assert "rm -rf /plugins/securityDashboards" in plugins["command"][2]
    assert [s.name for s in rendered.secrets] == ["grafana-admin"]
    assert rendered.env == [{"name": "LEAPFROG_CONSOLE_URL", "value": "http://console.ns.svc:8900"}]
    for app, port in (("grafana", 3000), ("opensearch-dashboards", 5601)):
        policy = objects["NetworkPolicy", f"{app}-ingress"]["spec"]
        assert policy["ingress"][0]["ports"] == [{"protocol": "TCP", "port": port}]
    job = next(o for (kind, _), o in objects.items() if kind == "Job")
    script = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "index-pattern/logs?overwrite=true" in script and '"logs-*"' in script


def test_grafana_is_provisioned_with_the_stack_stores_and_the_console_dashboards() -> None:
    objects = _objects(_render({"metrics_database": "metrics", "logs_index": "applogs"}))
    provisioning = objects["ConfigMap", "grafana-provisioning"]["data"]
    sources = {
        s["type"]: s for s in yaml.safe_load(provisioning["datasources.yaml"])["datasources"]
    }
    assert sources["influxdb"]["url"] == INFLUX
    assert sources["influxdb"]["jsonData"]["dbName"] == "metrics"
    logs = sources["grafana-opensearch-datasource"]
    assert logs["url"] == OPENSEARCH
    assert logs["jsonData"]["database"] == "applogs-*"
    assert logs["jsonData"]["timeField"] == "@timestamp"
    provider = yaml.safe_load(provisioning["dashboards.yaml"])["providers"][0]
    boards = objects["ConfigMap", "grafana-dashboards"]["data"]
    assert set(boards) == {f"{b.name}.json" for b in DASHBOARDS}
    assert provider["options"]["path"] == "/etc/grafana/dashboards"
    env = {e["name"]: e for e in _container(objects, "grafana")["env"]}
    assert env["GF_PLUGINS_PREINSTALL_SYNC"]["value"] == OPENSEARCH_PLUGIN
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "grafana-admin"
    mounts = {m["mountPath"] for m in _container(objects, "grafana")["volumeMounts"]}
    assert "/etc/grafana/provisioning/datasources/leapfrog.yaml" in mounts


def test_each_panel_is_the_console_query_in_grafana_json() -> None:
    for board in DASHBOARDS:
        model = grafana_json(board)
        assert model["uid"] == f"leapfrog-{board.name}"
        assert [p["title"] for p in model["panels"]] == [p.title for p in board.panels]
        for panel, entry in zip(board.panels, model["panels"], strict=True):
            [target] = entry["targets"]
            assert target["query"] == panel.query and target["rawQuery"] is True
            assert entry.get("interval") == (
                f"{panel.min_interval}s" if panel.min_interval else None
            )
        variables = [v["name"] for v in model["templating"]["list"]]
        assert variables == (["service"] if board.variable == "service" else [])
    service = grafana_json(next(b for b in DASHBOARDS if b.name == "service"))
    units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in service["panels"]}
    assert units["Memory"] == "bytes" and units["Latency by route"] == "ms"


def test_a_ui_is_left_out_without_its_store_or_when_turned_off() -> None:
    only_influx = _objects(_render({}, env=STORES[:1]))
    assert ("Deployment", "grafana") in only_influx
    assert ("Deployment", "opensearch-dashboards") not in only_influx
    grafana_env = {e["name"] for e in _container(only_influx, "grafana")["env"]}
    assert "GF_PLUGINS_PREINSTALL_SYNC" not in grafana_env  # no OpenSearch, no plugin
    bare = _objects(_render({}, env=()))
    assert [name for kind, name in bare if kind == "Deployment"] == ["console"]
    off = _objects(_render({"grafana": False, "opensearch_dashboards": False}))
    assert [name for kind, name in off if kind == "Deployment"] == ["console"]


def test_images_can_be_overridden_by_the_stack_file() -> None:
    comp = component("console")
    kube = KubeContext(
        namespace="ns",
        stack="s",
        platform_env=STORES,
        images={"grafana": "mirror.example/grafana:12.2.1"},
    )
    objects = _objects(comp.render_kubernetes(comp.options({}), kube))
    assert _container(objects, "grafana")["image"] == "mirror.example/grafana:12.2.1"
