"""What each stack-file setting becomes on Kubernetes, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _kube_stacks import example_data, load, write_stack

from leapfrog.cli import main
from leapfrog.runtime.kubernetes import render_stack, to_yaml, write_parts
from leapfrog.spec import SpecError


def _stack(services: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "shop", "services": services, **extra}


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def _container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    container: dict[str, Any] = _find(objects, "Deployment", name)["spec"]["template"]["spec"][
        "containers"
    ][0]
    return container


WEB = {"command": "python3 -m web --port ${PORT}", "image": "reg.example/web", "port": 8000}


def test_a_service_without_image_is_refused_with_its_line(tmp_path: Path) -> None:
    data = _stack({"web": {"command": "x", "port": 80}, "ok": {**WEB}})
    with pytest.raises(SpecError) as caught:
        render_stack(load(tmp_path, data))
    (problem,) = caught.value.problems
    assert problem.field == "services.web.image"
    assert problem.line == 3  # the line of services.web (name: shop is line 1)
    assert "image" in problem.message and problem.hint


def test_fields_without_a_kubernetes_meaning_are_refused(tmp_path: Path) -> None:
    web = {**WEB, "user": "nobody", "working_dir": "web", "stop_signal": "SIGINT"}
    web["restart"] = "no"
    (tmp_path / "web").mkdir()  # a working_dir must exist to load
    with pytest.raises(SpecError) as caught:
        render_stack(load(tmp_path, _stack({"web": web})))
    fields = sorted(p.field for p in caught.value.problems)
    assert fields == [
        "services.web.restart.policy",
        "services.web.stop_signal",
        "services.web.user",
        "services.web.working_dir",
    ]


def test_declared_backups_without_the_operator_are_refused(tmp_path: Path) -> None:
    data = _stack({"web": WEB}, components={"postgres": {"backups": {}}})
    with pytest.raises(SpecError) as caught:
        render_stack(load(tmp_path, data))
    (problem,) = caught.value.problems
    assert problem.field == "components.postgres.backups"
    assert "backup operator" in problem.message and "backups: {}" in (problem.hint or "")


def test_the_cli_reports_refusals_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_stack(tmp_path, _stack({"web": {"command": "x"}}))
    assert main(["render", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert "services.web.image" in err and "Traceback" not in err


def test_image_tag_comes_from_version_when_it_has_none(tmp_path: Path) -> None:
    services = {
        "a": {**WEB, "version": "1.2.3"},
        "b": {**WEB, "image": "reg.example:5000/b:7", "version": "1.2.3"},
        "c": {**WEB, "image": "reg.example/c@sha256:" + "0" * 64, "version": "2"},
    }
    objects = render_stack(load(tmp_path, _stack(services))).objects
    assert _container(objects, "a")["image"] == "reg.example/web:1.2.3"
    assert _container(objects, "b")["image"] == "reg.example:5000/b:7"
    assert _container(objects, "c")["image"].endswith("@sha256:" + "0" * 64)
    labels = _find(objects, "Deployment", "a")["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "1.2.3"


def test_probes_follow_the_check_mode(tmp_path: Path) -> None:
    services = {
        "h": {**WEB, "check": {"http": "/ready", "start_timeout": "90s", "retries": 2}},
        "t": {**WEB, "check": {"tcp": True}},
        "e": {**WEB, "check": {"exec": "test -f ${PORT}"}},
        "n": {**WEB},
    }
    objects = render_stack(load(tmp_path, _stack(services))).objects
    h = _container(objects, "h")
    assert h["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8000}
    assert h["readinessProbe"]["failureThreshold"] == 2
    assert h["startupProbe"]["periodSeconds"] * h["startupProbe"]["failureThreshold"] == 90
    assert _container(objects, "t")["livenessProbe"]["tcpSocket"] == {"port": 8000}
    assert _container(objects, "e")["readinessProbe"]["exec"]["command"] == [
        "test",
        "-f",
        "$(PORT)",
    ]
    assert "readinessProbe" not in _container(objects, "n")


def test_rolling_update_drain_and_grace(tmp_path: Path) -> None:
    web = {**WEB, "drain": "3s", "stop_grace_period": "20s", "replicas": 3}
    objects = render_stack(load(tmp_path, _stack({"web": web}))).objects
    deployment = _find(objects, "Deployment", "web")
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 20
    assert pod["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 3}}
    assert pod["containers"][0]["command"] == ["python3", "-m", "web", "--port", "$(PORT)"]


def test_the_rollout_strategy_becomes_the_deployments(tmp_path: Path) -> None:
    rollout = {"max_surge": 2, "max_unavailable": 1, "min_ready": "5s", "progress_deadline": "3s"}
    objects = render_stack(load(tmp_path, _stack({"web": {**WEB, "rollout": rollout}}))).objects
    spec = _find(objects, "Deployment", "web")["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 2}
    assert spec["minReadySeconds"] == 5
    assert spec["progressDeadlineSeconds"] == 6  # Kubernetes wants it above minReadySeconds
    plain = render_stack(load(tmp_path, _stack({"web": WEB}))).objects
    assert _find(plain, "Deployment", "web")["spec"]["progressDeadlineSeconds"] == 120


def test_env_matches_what_services_get_locally(tmp_path: Path) -> None:
    web = {**WEB, "version": "1.0", "route": "/web", "env": {"PORT": "9000", "X": "${HOST}"}}
    data = _stack({"web": web}, components={"kafka": {}, "postgres": {"databases": {"app": {}}}})
    env = {
        e["name"]: e for e in _container(render_stack(load(tmp_path, data)).objects, "web")["env"]
    }
    assert env["LEAPFROG_SERVICE"]["value"] == "web"
    assert env["LEAPFROG_VERSION"]["value"] == "1.0"
    assert env["LEAPFROG_ROUTE_PATH"]["value"] == "/web"
    assert env["LEAPFROG_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["HOST"]["value"] == "0.0.0.0"
    assert env["PORT"]["value"] == "9000"  # the stack file's env wins
    assert env["X"]["value"] == "$(HOST)"
    assert env["CONSUL_HTTP_ADDR"]["value"] == "catalog.shop.svc:8500"
    # The service's own token, not the management one nor the shared one (as locally).
    token = env["CONSUL_HTTP_TOKEN"]["valueFrom"]["secretKeyRef"]["name"]
    assert token == "web-catalog-token"
    assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == "kafka-0.kafka.shop.svc:9092"
    ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "postgres-credentials", "key": "DATABASE_URL"}


def test_generated_secrets_stay_out_of_files_unless_asked(tmp_path: Path) -> None:
    data = _stack({"web": {**WEB}}, components={"postgres": {"databases": {"app": {}}}})
    rendered = render_stack(load(tmp_path, data))
    assert not [o for o in rendered.objects if o["kind"] == "Secret"]
    assert {s.name for s in rendered.secrets} == {
        "catalog-token",
        "catalog-dns-token",
        "catalog-read-token",
        "catalog-services-token",
        "web-catalog-token",
        "postgres-credentials",
    }
    text = to_yaml(rendered.objects)
    assert "stringData" not in text
    written = render_stack(load(tmp_path, {**data, "kubernetes": {"write_secrets": True}}))
    secret = _find(written.objects, "Secret", "postgres-credentials")
    values = secret["stringData"]
    assert values["DATABASE_URL"] == (
        f"postgresql://app:{values['app']}@postgres.shop.svc:5432/app"
    )
    paths = write_parts(written, tmp_path / "out")
    secrets_file = next(p for p in paths if p.name.endswith("-secrets.yaml"))
    assert secrets_file.stat().st_mode & 0o077 == 0


def test_autoscale_gives_an_hpa_that_owns_the_replicas(tmp_path: Path) -> None:
    web = {**WEB, "autoscale": {"min": 2, "max": 6, "cpu_percent": 60}}
    objects = render_stack(load(tmp_path, _stack({"web": web}))).objects
    hpa = _find(objects, "HorizontalPodAutoscaler", "web")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    assert "replicas" not in _find(objects, "Deployment", "web")["spec"]


def test_autoscale_targets_and_behavior_are_the_hpas(tmp_path: Path) -> None:
    scale = {
        "min": 1,
        "max": 8,
        "requests_per_second": 150,
        "in_flight": 2.5,
        "scale_up": {"pods": 2, "percent": None, "period": "30s"},
        "scale_down": {"stabilization": "1m", "pods": 1},
    }
    web = {**WEB, "autoscale": scale}
    hpa = _find(
        render_stack(load(tmp_path, _stack({"web": web}))).objects, "HorizontalPodAutoscaler", "web"
    )["spec"]
    pods = {m["pods"]["metric"]["name"]: m["pods"]["target"] for m in hpa["metrics"]}
    assert pods == {
        "http_requests_per_second": {"type": "AverageValue", "averageValue": "150"},
        "http_requests_in_flight": {"type": "AverageValue", "averageValue": "2500m"},
    }
    assert all(m["type"] == "Pods" for m in hpa["metrics"])  # no CPU target unless asked
    up, down = hpa["behavior"]["scaleUp"], hpa["behavior"]["scaleDown"]
    assert up == {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [{"type": "Pods", "value": 2, "periodSeconds": 30}],
    }
    assert down["stabilizationWindowSeconds"] == 60
    assert down["policies"] == [
        {"type": "Pods", "value": 1, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ]


def test_network_policy_allows_declared_callers_only(tmp_path: Path) -> None:
    services = {
        "api": {**WEB},
        "front": {**WEB, "depends_on": ["api"]},
        "admin": {**WEB},
        "audit": {**WEB, "allow_from": ["admin"]},
    }
    data = _stack(services, components={"kafka": {}})
    objects = render_stack(load(tmp_path, data)).objects

    def peer(selector: dict[str, Any]) -> str:
        """A platform part by its name label; a service by its instance label (its
        canary's pods too)."""
        labels = selector["podSelector"]["matchLabels"]
        if "app.kubernetes.io/name" in labels:
            return str(labels["app.kubernetes.io/name"])
        return str(labels["app.kubernetes.io/instance"]).removeprefix("shop-")

    def callers(name: str) -> set[str]:
        spec = _find(objects, "NetworkPolicy", name)["spec"]
        return {peer(p) for rule in spec["ingress"] for p in rule["from"]}

    assert callers("api") == {"front", "catalog"}
    assert callers("audit") == {"admin", "catalog"}
    assert callers("admin") == {"catalog"}
    front = _find(objects, "NetworkPolicy", "front")["spec"]
    reached = {peer(p) for rule in front["egress"] for p in rule.get("to", [])}
    assert front["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/instance": "shop-front",
        "app.kubernetes.io/part-of": "shop",
    }
    assert reached == {"catalog", "kafka", "api"}
    default = _find(objects, "NetworkPolicy", "default-deny")["spec"]
    assert default == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_storage_and_images_from_the_kubernetes_settings(tmp_path: Path) -> None:
    settings = {
        "namespace": "prod",
        "images": {"kafka": "mirror.example/kafka:4.1.0"},
        "storage_class": "fast",
        "storage": {"kafka": "50Gi"},
    }
    data = _stack({"web": {**WEB}}, components={"kafka": {}}, kubernetes=settings)
    rendered = render_stack(load(tmp_path, data))
    assert rendered.namespace == "prod"
    kafka = _find(rendered.objects, "StatefulSet", "kafka")["spec"]
    assert kafka["template"]["spec"]["containers"][0]["image"] == "mirror.example/kafka:4.1.0"
    claim = kafka["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "fast"
    assert claim["resources"]["requests"]["storage"] == "50Gi"


def test_rendering_is_stable(tmp_path: Path) -> None:
    """Re-rendering gives the same objects (so a re-apply changes nothing)."""
    data = example_data()
    first = render_stack(load(tmp_path, data)).objects
    assert render_stack(load(tmp_path, data)).objects == first


def test_render_to_a_folder_and_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_stack(tmp_path, example_data())
    assert main(["render", "-f", str(path), "--target", "kubernetes"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n---\n") >= 30 and "kind: Namespace" in out
    assert main(["render", "-f", str(path), "-o", str(tmp_path / "out")]) == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names[0] == "00-namespace.yaml" and "01-catalog.yaml" in names


def test_a_service_named_like_a_platform_object_is_refused(tmp_path: Path) -> None:
    data = _stack({"catalog-dns": {**WEB}, "web": {**WEB}})
    with pytest.raises(SpecError) as caught:
        render_stack(load(tmp_path, data))
    (problem,) = caught.value.problems
    assert problem.field == "services.catalog-dns"
    assert "catalog" in problem.message and problem.line == 3
