"""The dependency graph: order, levels, dependents."""

from __future__ import annotations

from pathlib import Path

import pytest

from leapfrog.plan import build_plan, instance_name
from leapfrog.spec import SpecError, parse_stack


def plan_of(text: str):  # type: ignore[no-untyped-def]
    return build_plan(parse_stack(text, "leapfrog.yaml", Path("/tmp")))


DIAMOND = """
catalog: {enabled: false}
services:
  db: {command: x}
  cache: {command: x}
  api: {command: x, depends_on: [db, cache]}
  worker: {command: x, depends_on: {db: {condition: started}}}
  web: {command: x, depends_on: [api], replicas: 3}
"""


def test_order_puts_every_unit_after_its_dependencies() -> None:
    plan = plan_of(DIAMOND)
    position = {name: i for i, name in enumerate(plan.order)}
    for name, unit in plan.units.items():
        for dep in unit.depends_on:
            assert position[dep] < position[name]


def test_levels_group_units_that_can_start_together() -> None:
    assert plan_of(DIAMOND).levels() == [["cache", "db"], ["api", "worker"], ["web"]]


def test_dependents_and_conditions() -> None:
    plan = plan_of(DIAMOND)
    assert plan.dependents("db") == ("api", "worker")
    assert plan.dependents("web") == ()
    assert plan.units["worker"].depends_on == {"db": "started"}
    assert plan.units["api"].depends_on == {"db": "healthy", "cache": "healthy"}


def test_instances_are_named_unit_dash_index() -> None:
    plan = plan_of(DIAMOND)
    assert plan.units["web"].instance_names() == ["web-1", "web-2", "web-3"]
    assert instance_name("db", 7) == "db-7"


def test_zero_replicas_have_no_instances() -> None:
    plan = plan_of("services:\n  off: {command: x, replicas: 0}\n")
    assert plan.units["off"].instance_names() == []


def test_independent_units_share_one_level() -> None:
    text = "catalog: {enabled: false}\nservices:\n" + "".join(
        f"  s{i}: {{command: x}}\n" for i in range(20)
    )
    levels = plan_of(text).levels()
    assert len(levels) == 1 and len(levels[0]) == 20


def test_cycles_never_reach_the_plan() -> None:
    with pytest.raises(SpecError) as info:
        plan_of(
            "services:\n  a: {command: x, depends_on: [b]}\n  b: {command: x, depends_on: [a]}\n"
        )
    assert "a -> b -> a" in str(info.value) or "b -> a -> b" in str(info.value)


def test_the_catalog_starts_first_and_every_service_waits_for_it() -> None:
    plan = plan_of("services:\n  a: {command: x}\n  b: {command: x, depends_on: [a]}\n")
    assert plan.levels() == [["catalog"], ["a"], ["b"]]
    assert plan.units["catalog"].kind == "catalog"
    assert plan.units["catalog"].service.port == 8500
    assert plan.units["b"].depends_on == {"catalog": "healthy", "a": "healthy"}


def test_an_explicit_condition_on_the_catalog_wins() -> None:
    plan = plan_of("services:\n  a: {command: x, depends_on: {catalog: {condition: started}}}\n")
    assert plan.units["a"].depends_on == {"catalog": "started"}


def test_components_that_read_the_others_stop_before_them() -> None:
    plan = plan_of(
        "catalog: {enabled: false}\n"
        "components:\n"
        "  kafka: {}\n"
        "  influxdb: {}\n"
        "  metrics-pipeline: {}\n"
        "  flink: {service_stats: {}}\n"
        "services:\n"
        "  web: {command: x}\n"
    )
    # Flink's savepoints and the pipeline's last commit need Kafka and the store up.
    assert plan.stopped_before("kafka") == ("web", "flink", "metrics-pipeline")
    assert plan.stopped_before("influxdb") == ("web", "flink", "metrics-pipeline")
    # Readers wait only for what depends on them, never for one another.
    assert plan.stopped_before("flink") == ("web",)
    assert plan.stopped_before("metrics-pipeline") == ("web",)
    assert plan.stopped_before("web") == ()
    # Starting is unchanged: every component in the first level.
    assert plan.levels()[0] == ["flink", "influxdb", "kafka", "metrics-pipeline"]
