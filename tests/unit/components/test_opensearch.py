"""OpenSearch's options, node settings, process and Kubernetes objects, without running it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from leapfrog.components import component
from leapfrog.components._maven import Classpath
from leapfrog.components._opensearch_launcher import LAUNCHER_CLASS, SOURCE, launcher_argfile
from leapfrog.components.base import Installation, Instance
from leapfrog.components.kube import KubeContext
from leapfrog.components.opensearch import OpenSearch, OpenSearchOptions, training_options

INSTALLATION = Installation(
    version="2.19.1",
    home=Path("/cache/maven/sets/opensearch"),
    extra={
        "java": "/usr/bin/java",
        "argfile": "/cache/os.args",
        "classpath": "/a.jar",
        "launcher_argfile": "/cache/launcher.args",
        "launcher_jar": "/cache/launcher.jar",
    },
)


def where(data_dir: Path, port: int = 9200) -> Instance:
    return Instance(
        name="opensearch",
        instance="opensearch-1",
        address="127.0.0.9",
        port=port,
        data_dir=data_dir,
        secrets_dir=data_dir / "secrets",
        cache_dir=Path("/cache"),
    )


def options(**raw: object) -> OpenSearchOptions:
    return OpenSearch().options(raw)


def test_the_registry_knows_opensearch() -> None:
    assert isinstance(component("opensearch"), OpenSearch)


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ({"version": "1.3.0"}, "String should match pattern"),
        ({"heap": "512"}, "String should match pattern"),
        ({"transport_port": 0}, "greater than or equal to 1"),
        ({"security": True}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_options_are_refused_with_a_reason(raw: dict[str, object], complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        options(**raw)


def test_the_node_is_single_and_bound_to_the_instance_address(tmp_path: Path) -> None:
    process = OpenSearch().process(options(heap="1g"), INSTALLATION, where(tmp_path))
    settings = yaml.safe_load(process.files["config/opensearch.yml"])
    assert settings["network.host"] == "127.0.0.9"
    assert settings["http.port"] == 9200
    assert settings["transport.port"] == 9300
    assert settings["discovery.type"] == "single-node"
    assert settings["path.home"] == str(tmp_path)
    assert settings["path.repo"] == [str(tmp_path / "snapshots")]
    assert settings["path.data"].startswith(str(tmp_path))
    assert settings["cluster.routing.allocation.disk.threshold_enabled"] is False
    assert "-Xmx1g" in process.argv
    assert "@/cache/launcher.args" in process.argv
    assert process.argv[-2:] == (LAUNCHER_CLASS, str(tmp_path / "config"))
    assert process.stop_signal == "SIGTERM"


def test_the_node_listens_on_the_port_the_runtime_assigned(tmp_path: Path) -> None:
    process = OpenSearch().process(options(), INSTALLATION, where(tmp_path, port=9250))
    assert yaml.safe_load(process.files["config/opensearch.yml"])["http.port"] == 9250


def test_services_receive_the_rest_url(tmp_path: Path) -> None:
    env = OpenSearch().connection_env(options(), where(tmp_path))
    assert env == {"OPENSEARCH_URL": "http://127.0.0.9:9200"}


def test_training_runs_on_other_ports() -> None:
    trained = training_options(options())
    assert (trained.port, trained.transport_port) != (9200, 9300)
    assert trained.heap == "512m"


def test_the_launcher_comes_after_the_jars_on_its_classpath(tmp_path: Path) -> None:
    classpath = Classpath((Path("/r/a.jar"), Path("/r/b.jar")), tmp_path / "cp.args", tmp_path)
    text = launcher_argfile(classpath, tmp_path / "launcher.jar")
    assert text == f'-cp\n"/r/a.jar:/r/b.jar:{tmp_path}/launcher.jar"\n'
    assert f"class {LAUNCHER_CLASS} extends Node" in SOURCE.read_text()


def test_kubernetes_uses_the_official_image_with_security_disabled_explicitly() -> None:
    rendered = OpenSearch().render_kubernetes(options(), KubeContext(namespace="ns", stack="s"))
    kinds = {(o["kind"], o["metadata"]["name"].rsplit("-", 1)[0]) for o in rendered.objects}
    assert kinds == {
        ("ConfigMap", "opensearch"),
        ("Service", "opensearch"),
        ("StatefulSet", "opensearch"),
        ("Job", "opensearch-settings"),
    }
    sts = next(o for o in rendered.objects if o["kind"] == "StatefulSet")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "opensearchproject/opensearch:2.19.1"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["DISABLE_SECURITY_PLUGIN"] == "true"
    assert env["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
    config = next(o for o in rendered.objects if o["kind"] == "ConfigMap")
    settings = yaml.safe_load(config["data"]["opensearch.yml"])
    assert settings["plugins.security.disabled"] is True
    assert settings["discovery.type"] == "single-node"
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    job = next(o for o in rendered.objects if o["kind"] == "Job")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "cluster.default_number_of_replicas" in command
    assert rendered.env == [
        {"name": "OPENSEARCH_URL", "value": "http://opensearch-0.opensearch.ns.svc:9200"}
    ]
