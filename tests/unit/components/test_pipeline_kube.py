"""The pipelines rendered to Kubernetes: the leapfrog image, Kafka and the store from
the env the other components give, refused with a hint when the stack has neither."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leapfrog.components import component
from leapfrog.components.base import NotSupported
from leapfrog.components.kube import KubeContext
from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import load_stack

KAFKA_ENV = {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": "kafka-0.kafka.ns.svc:9092"}
OS_ENV = {"name": "OPENSEARCH_URL", "value": "http://opensearch-0.opensearch.ns.svc:9200"}


def test_logs_pipeline_reads_kafka_and_opensearch_from_the_platform_env() -> None:
    comp = component("logs-pipeline")
    kube = KubeContext(namespace="ns", stack="s", platform_env=(KAFKA_ENV, OS_ENV))
    rendered = comp.render_kubernetes(comp.options({"retention_days": 3}), kube)
    [service, deployment] = rendered.objects
    assert service["kind"] == "Service" and deployment["kind"] == "Deployment"
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("localhost/leapfrog/leapfrog:")
    assert container["command"][:3] == ["leapfrog", "pipeline", "logs"]
    assert "--retention-days" in container["command"]
    assert KAFKA_ENV in container["env"] and OS_ENV in container["env"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert rendered.env == [
        {"name": "LEAPFROG_LOGS_PIPELINE_URL", "value": "http://logs-pipeline.ns.svc:9610"}
    ]


def test_a_pipeline_without_its_store_is_refused_with_a_hint() -> None:
    comp = component("metrics-pipeline")
    kube = KubeContext(namespace="ns", stack="s", platform_env=(KAFKA_ENV,))
    with pytest.raises(NotSupported, match=r"INFLUXDB_URL.*`url:`"):
        comp.render_kubernetes(comp.options({}), kube)


def test_explicit_urls_need_no_platform_env() -> None:
    comp = component("metrics-pipeline")
    options = comp.options({"url": "http://influx:8086", "kafka": "k:9092", "database": "x"})
    rendered = comp.render_kubernetes(options, KubeContext(namespace="ns", stack="s"))
    command = rendered.objects[1]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--url") + 1] == "http://influx:8086"
    assert command[command.index("--database") + 1] == "x"


def test_in_a_stack_the_pipeline_gets_kafka_whatever_the_order(tmp_path: Path) -> None:
    data = {
        "name": "shop",
        "components": {"logs-pipeline": {"url": "http://os:9200"}, "kafka": {}},
        "services": {},
    }
    path = tmp_path / "leapfrog.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    rendered = render_stack(load_stack(path))
    deployment = next(o for o in rendered.parts["logs-pipeline"] if o["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert any(e["name"] == "KAFKA_BOOTSTRAP_SERVERS" for e in env)
