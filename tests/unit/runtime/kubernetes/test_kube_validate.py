"""Every rendered object of the example stack validates strictly against the Kubernetes
1.37 schemas, and every pod meets the Pod Security "restricted" profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from _kube_stacks import example_data, load

from leapfrog.runtime.kubernetes import Rendered, render_stack
from leapfrog.runtime.kubernetes._canary import canary_manifest

_SAFE_VOLUMES = {
    "configMap",
    "emptyDir",
    "secret",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
    "ephemeral",
    "csi",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    data = example_data()
    data["kubernetes"] = {"write_secrets": True}  # the Secrets are validated too
    data["catalog"] = {**data.get("catalog", {}), "anonymous_read": True}  # the opt-in too
    return render_stack(load(tmp_path_factory.mktemp("stack"), data))


def test_the_whole_example_is_rendered(rendered: Rendered) -> None:
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    for expected in [
        ("Namespace", "example"),
        ("StatefulSet", "catalog"),
        ("StatefulSet", "kafka"),
        ("StatefulSet", "zookeeper"),
        ("StatefulSet", "postgres"),
        ("Deployment", "lb"),
        ("Deployment", "hello"),
        ("Deployment", "reader"),
        ("PodDisruptionBudget", "hello"),
        ("NetworkPolicy", "default-deny"),
        ("NetworkPolicy", "reader"),
        ("Secret", "postgres-credentials"),
        ("Secret", "catalog-token"),
        ("Secret", "catalog-dns-token"),
        ("Secret", "catalog-read-token"),
        ("Secret", "catalog-services-token"),
    ]:
        assert expected in kinds
    jobs = [name for kind, name in kinds if kind == "Job"]
    assert any(n.startswith("postgres-init-") for n in jobs)
    assert any(n.startswith("kafka-topics-") for n in jobs)
    assert any(n.startswith("catalog-acl-") for n in jobs)


def test_every_object_validates_strictly_against_1_37(rendered: Rendered) -> None:
    """Built-in kinds against the Kubernetes schemas; the stack's own custom resources
    (BackupSchedule) against the schema of the CRD rendered with them, strictly too."""
    crds = {
        (o["spec"]["group"], o["spec"]["names"]["kind"]): o
        for o in rendered.objects
        if o["kind"] == "CustomResourceDefinition"
    }
    custom = 0
    for obj in rendered.objects:
        group = obj["apiVersion"].rpartition("/")[0]
        if (group, obj["kind"]) in crds:
            (version,) = crds[group, obj["kind"]]["spec"]["versions"]
            schema = strict_schema(version["schema"]["openAPIV3Schema"])
            jsonschema.validate(obj, schema)
            custom += 1
        else:
            kubernetes_validate.validate(obj, "1.37.0", strict=True)
    assert custom == 5  # a BackupSchedule for each store of the example


def test_every_services_canary_validates_strictly_and_meets_the_profile(
    rendered: Rendered,
) -> None:
    """The Deployment NAME-canary `leapfrog apply` makes of each service's Deployment."""
    canaries = [
        canary_manifest(o, 1)
        for o in rendered.objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] in rendered.rollouts
    ]
    assert len(canaries) == len(rendered.rollouts) >= 2
    for made in canaries:
        kubernetes_validate.validate(made, "1.37.0", strict=True)
        assert restricted_violations(made["metadata"]["name"], made["spec"]["template"]) == []


def strict_schema(schema: Any) -> Any:
    """An OpenAPI schema as the API server applies it to a structural CRD: a field the
    schema does not name is an error (it would be pruned), `metadata` aside."""
    if isinstance(schema, list):
        return [strict_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    found = {key: strict_schema(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get(
        "x-kubernetes-preserve-unknown-fields"
    )
    if "properties" in schema and not open_ended:
        found["additionalProperties"] = False
    if "properties" in schema:
        found["properties"] = {k: strict_schema(v) for k, v in schema["properties"].items()}
        if "metadata" in found["properties"]:
            found["properties"]["metadata"] = {"type": "object"}
    return found


def test_a_custom_resource_with_a_wrong_field_fails_strict_validation(
    rendered: Rendered,
) -> None:
    crd = next(o for o in rendered.objects if o["metadata"]["name"].startswith("backupsch"))
    schema = strict_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    schedule = next(o for o in rendered.objects if o["kind"] == "BackupSchedule")
    jsonschema.validate(schedule, schema)
    broken = {**schedule, "spec": {**schedule["spec"], "keep_last": 3}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_schedules_of_zookeeper_opensearch_and_physical_postgres_name_their_data(
    rendered: Rendered,
) -> None:
    """What a ZooKeeper Restore's Job, every OpenSearch Job and a physical PostgreSQL
    restore mount, run as and join: the StatefulSet's own claim, user, mount path and
    pod labels."""
    schedules = {
        o["spec"]["store"]["kind"]: o["spec"]["store"]
        for o in rendered.objects
        if o["kind"] == "BackupSchedule"
    }
    configs = {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "ConfigMap"}
    for kind, store in schedules.items():
        if kind not in ("zookeeper", "opensearch", "postgres"):
            assert "data" not in store, kind
            continue
        sts = next(
            o for o in rendered.objects
            if o["kind"] == "StatefulSet" and o["metadata"]["name"] == store["service"]
        )  # fmt: skip
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        template = sts["spec"]["template"]
        (server,) = template["spec"]["containers"]
        mounted = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
        data = store["data"]
        assert data["claimName"] == f"{claim['metadata']['name']}-{sts['metadata']['name']}-0"
        assert data["runAsUser"] == template["spec"]["securityContext"]["runAsUser"]
        assert data["serverPath"] == mounted[claim["metadata"]["name"]]
        assert data["serverLabels"].items() <= template["metadata"]["labels"].items()
    zoo_cfg = configs["zookeeper-config"]["data"]["zoo.cfg"]
    assert f"dataDir={schedules['zookeeper']['data']['serverPath']}" in zoo_cfg
    opensearch_yml = configs["opensearch-config"]["data"]["opensearch.yml"]
    assert f"- {schedules['opensearch']['data']['serverPath']}/snapshots" in opensearch_yml
    assert schedules["postgres"]["mode"] == "physical"  # the example's `backups:` default


def test_a_physical_postgres_archives_its_wal_into_the_schedules_claim(
    rendered: Rendered,
) -> None:
    """The server's archive_command is the shell script of its ConfigMap, copying into
    `<store>/wal` of the claim its BackupSchedule's Jobs mount at the same path."""
    schedule = next(
        o for o in rendered.objects
        if o["kind"] == "BackupSchedule" and o["spec"]["store"]["kind"] == "postgres"
    )  # fmt: skip
    sts = next(
        o for o in rendered.objects
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres"
    )  # fmt: skip
    pod = sts["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    settings = dict(a[2:].split("=", 1) for a in server["args"] if a.startswith("-c"))
    assert settings["archive_mode"] == "on" and settings["wal_level"] == "replica"
    assert settings["archive_command"] == "/bin/sh /etc/leapfrog/archive-wal.sh %p %f"
    assert int(settings["archive_timeout"]) > 0
    mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    claim = schedule["spec"]["storage"]["pvc"]["claimName"]
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == claim
    assert mounts["backups"] == "/backups" and mounts["wal-archive"] == "/etc/leapfrog"
    config = next(
        o for o in rendered.objects
        if o["kind"] == "ConfigMap"
        and o["metadata"]["name"] == volumes["wal-archive"]["configMap"]["name"]
    )  # fmt: skip
    script = config["data"]["archive-wal.sh"]
    assert "archive=/backups/postgres/wal;" in script
    assert f"gaps={schedule['spec']['store']['data']['serverPath']}/wal-gaps;" in script
    assert pod["securityContext"]["runAsNonRoot"] is True  # restricted, as every pod


def test_strict_validation_catches_a_wrong_field(rendered: Rendered) -> None:
    deployment = next(o for o in rendered.objects if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)


def test_every_object_carries_the_stack_labels(rendered: Rendered) -> None:
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "example", obj["metadata"]["name"]
        assert labels["app.kubernetes.io/managed-by"] == "leapfrog"
        for key in ("name", "instance", "component"):
            assert f"app.kubernetes.io/{key}" in labels
        if obj["kind"] not in ("Namespace", "CustomResourceDefinition"):  # cluster-wide
            assert obj["metadata"]["namespace"] == "example"


def pod_templates(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for obj in rendered.objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            found.append((f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]))
    return found


def restricted_violations(name: str, template: dict[str, Any]) -> list[str]:
    """The checks of Pod Security Admission's "restricted" level (v1.37), and ours."""
    pod = template["spec"]
    pod_sc = pod.get("securityContext", {})
    problems = []
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            problems.append(f"{name}: {host}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= _SAFE_VOLUMES:
            problems.append(f"{name}: volume {volume['name']} of type {kinds}")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: pod seccompProfile is not RuntimeDefault")
    if pod_sc.get("runAsUser") == 0:
        problems.append(f"{name}: pod runs as root")
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    for container in containers:
        where = f"{name}/{container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"{where}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{where}: capabilities are not all dropped")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{where}: adds capabilities")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{where}: runAsNonRoot is not set")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) in (0, None):
            problems.append(f"{where}: no non-zero runAsUser")
        profile = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        if profile.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: root filesystem is writable")
        for port in container.get("ports", []):
            if "hostPort" in port:
                problems.append(f"{where}: hostPort")
        resources = container.get("resources", {})
        if not resources.get("requests", {}).get("cpu") or not resources.get("limits", {}).get(
            "memory"
        ):
            problems.append(f"{where}: resources are not set")
    return problems


def test_every_pod_meets_the_restricted_profile(rendered: Rendered) -> None:
    templates = pod_templates(rendered)
    assert len(templates) >= 10
    problems = [p for name, template in templates for p in restricted_violations(name, template)]
    assert problems == []


def test_the_policy_check_catches_a_privileged_pod(rendered: Rendered) -> None:
    name, template = pod_templates(rendered)[0]
    container = {**template["spec"]["containers"][0]}
    container["securityContext"] = {**container["securityContext"], "privileged": True}
    container["securityContext"].pop("allowPrivilegeEscalation")
    spec = {**template["spec"], "containers": [container], "hostNetwork": True}
    problems = restricted_violations(name, {"spec": spec})
    assert len(problems) == 3


def test_the_namespace_enforces_restricted(rendered: Rendered) -> None:
    namespace = rendered.objects[0]
    assert namespace["kind"] == "Namespace"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_example_file_itself_lacks_only_images(tmp_path: Path) -> None:
    """The example stack file is the source: apart from images nothing is refused."""
    data = example_data()
    stack = load(tmp_path, data)
    assert render_stack(stack).objects


def test_each_schedule_names_the_ports_its_jobs_reach_as_its_service_has_them(
    rendered: Rendered,
) -> None:
    """The main port (named as the kind) and the others a Job speaks to (InfluxDB's RPC,
    ZooKeeper's AdminServer) are the store's Service's own; services' NetworkPolicies
    reach only the main ones."""
    for schedule in (o for o in rendered.objects if o["kind"] == "BackupSchedule"):
        store = schedule["spec"]["store"]
        service = next(
            o for o in rendered.objects
            if o["kind"] == "Service" and o["metadata"]["name"] == store["service"]
        )  # fmt: skip
        served = {p["port"] for p in service["spec"]["ports"]}
        assert set(store["ports"].values()) <= served, (store, served)
        assert store["kind"] in store["ports"]
    stores = {o["spec"]["store"]["kind"]: o["spec"]["store"]["ports"] for o in rendered.objects
              if o["kind"] == "BackupSchedule"}  # fmt: skip
    assert stores["influxdb"] == {"influxdb": 8086, "rpc": 8088}
    assert stores["zookeeper"] == {"zookeeper": 2181, "admin": 8080}
    egress = [
        rule
        for o in rendered.objects
        if o["kind"] == "NetworkPolicy"
        for rule in o["spec"].get("egress", [])
    ]
    reached = {p["port"] for rule in egress for p in rule.get("ports", [])}
    assert 8088 not in reached and 8080 not in reached


def test_the_operators_jobs_are_pods_the_stores_network_policies_admit(
    rendered: Rendered,
) -> None:
    """A store admits the stack's own pods only: a run's pod and a restore's (made by
    the operator from the rendered schedule's Backup) carry the stack's label, so they
    reach the store they back up."""
    from datetime import UTC, datetime

    from leapfrog.backup._kube_runs import backup_for_slot, job_for, restore_job_for

    policies = {o["metadata"]["name"]: o for o in rendered.objects if o["kind"] == "NetworkPolicy"}
    for schedule in (o for o in rendered.objects if o["kind"] == "BackupSchedule"):
        backup = backup_for_slot(schedule, datetime(2026, 12, 6, 3, tzinfo=UTC))
        backup["status"] = {"phase": "Succeeded", "backupId": "20261206T030000Z-abcd"}
        store = backup["spec"]["store"]["service"]
        (rule,) = policies[f"{store}-ingress"]["spec"]["ingress"]
        admitted = [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
        for job in (
            job_for("run", rendered.namespace, backup["spec"], "img", "x", backup["metadata"]),
            restore_job_for("back", rendered.namespace, backup, "img"),
        ):
            labels = job["spec"]["template"]["metadata"]["labels"]
            assert any(wanted.items() <= labels.items() for wanted in admitted), (store, labels)
