"""Named volumes on Kubernetes: a StatefulSet's claim templates for per-instance volumes,
a claim named as the volume for shared ones, mounts and LEAPFROG_VOLUME_<NAME>."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _kube_stacks import load

from leapfrog.runtime.kubernetes import render_stack
from leapfrog.spec import SpecError

WEB = {"command": "python3 -m web", "image": "reg.example/web", "port": 8000}


def _render(tmp_path: Path, volumes: dict[str, Any], **services: Any) -> list[dict[str, Any]]:
    data = {"name": "shop", "volumes": volumes, "services": services}
    return render_stack(load(tmp_path, data)).objects


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def test_per_instance_volumes_make_a_stateful_set_with_claim_templates(tmp_path: Path) -> None:
    objects = _render(
        tmp_path,
        {"data": {"size": "2Gi"}, "scratch": {}},
        web={**WEB, "replicas": 3, "volumes": ["data:/var/lib/web", "scratch"]},
    )
    assert not [o for o in objects if o["kind"] == "Deployment"]
    sts = _one(objects, "StatefulSet", "web")
    spec = sts["spec"]
    assert spec["replicas"] == 3 and spec["serviceName"] == "web"
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    claims = {t["metadata"]["name"]: t["spec"] for t in spec["volumeClaimTemplates"]}
    assert claims["data"]["resources"]["requests"]["storage"] == "2Gi"
    assert claims["scratch"]["resources"]["requests"]["storage"] == "1Gi"
    assert claims["data"]["accessModes"] == ["ReadWriteOnce"]
    container = spec["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    # the pod's own scratch folder `data` gives its name to the named volume
    assert mounts == {
        "tmp": "/tmp",
        "leapfrog-data": "/data",
        "data": "/var/lib/web",
        "scratch": "/volumes/scratch",
    }
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LEAPFROG_VOLUME_DATA"] == "/var/lib/web"
    assert env["LEAPFROG_VOLUME_SCRATCH"] == "/volumes/scratch"
    pod_volumes = {v["name"] for v in spec["template"]["spec"]["volumes"]}
    assert pod_volumes == {"tmp", "leapfrog-data"}  # the claims come from the templates


def test_shared_volume_is_one_claim_read_write_many_when_pods_share_it(tmp_path: Path) -> None:
    objects = _render(
        tmp_path,
        {"uploads": {"scope": "shared", "size": "5Gi"}, "single": {"scope": "shared"}},
        web={**WEB, "replicas": 2, "volumes": ["uploads:/data"]},
        admin={**WEB, "port": 8001, "volumes": ["single"]},
    )
    uploads = _one(objects, "PersistentVolumeClaim", "uploads")
    assert uploads["spec"]["accessModes"] == ["ReadWriteMany"]
    assert uploads["spec"]["resources"]["requests"]["storage"] == "5Gi"
    single = _one(objects, "PersistentVolumeClaim", "single")
    assert single["spec"]["accessModes"] == ["ReadWriteOnce"]  # one pod only
    deployment = _one(objects, "Deployment", "web")
    pod = deployment["spec"]["template"]["spec"]
    assert {"name": "uploads", "persistentVolumeClaim": {"claimName": "uploads"}} in pod["volumes"]
    mounts = pod["containers"][0]["volumeMounts"]
    # mounted on /data, it replaces the pod's scratch folder there
    assert {m["mountPath"] for m in mounts} == {"/tmp", "/data"}
    assert {"name": "uploads", "mountPath": "/data"} in mounts
    kinds = [o["kind"] for o in objects]
    assert kinds.index("PersistentVolumeClaim") < kinds.index("Deployment")


def test_autoscaled_service_with_own_volumes_scales_its_stateful_set(tmp_path: Path) -> None:
    objects = _render(
        tmp_path,
        {"data": {}},
        web={**WEB, "autoscale": {"min": 2, "max": 5}, "volumes": ["data"]},
    )
    hpa = _one(objects, "HorizontalPodAutoscaler", "web")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert "replicas" not in _one(objects, "StatefulSet", "web")["spec"]


def test_a_storage_class_applies_to_every_claim(tmp_path: Path) -> None:
    data = {
        "name": "shop",
        "kubernetes": {"storage_class": "fast"},
        "volumes": {"a": {}, "b": {"scope": "shared"}},
        "services": {"web": {**WEB, "volumes": ["a", "b"]}},
    }
    objects = render_stack(load(tmp_path, data)).objects
    sts = _one(objects, "StatefulSet", "web")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "fast"
    assert _one(objects, "PersistentVolumeClaim", "b")["spec"]["storageClassName"] == "fast"


def test_a_shared_volume_named_as_a_platform_claim_is_refused(tmp_path: Path) -> None:
    data = {
        "name": "shop",
        "components": {"flink": {}},
        "volumes": {"flink-checkpoints": {"scope": "shared"}},
        "services": {"web": {**WEB, "volumes": ["flink-checkpoints"]}},
    }
    with pytest.raises(SpecError) as caught:
        render_stack(load(tmp_path, data))
    (problem,) = caught.value.problems
    assert problem.field == "volumes.flink-checkpoints" and problem.line is not None
    assert "would have the name of the flink's own" in problem.message
