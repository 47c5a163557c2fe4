"""`leapfrog status`'s current/desired line per service that is not where it should be."""

from __future__ import annotations

from leapfrog.cli.views import replica_counts


def test_only_services_off_their_desired_count_are_named() -> None:
    def inst(unit: str, n: int, state: str = "healthy") -> dict[str, object]:
        return {"name": f"{unit}-{n}", "unit": unit, "state": state}

    snapshot = {
        "units": {
            "catalog": {"kind": "catalog", "replicas": 1},
            "kafka": {"kind": "component", "replicas": 1},
            "web": {"kind": "service", "replicas": 6},  # scaled up, two still starting
            "api": {"kind": "service", "replicas": 2},  # where it should be
            "old": {"kind": "service"},  # a state file from before `replicas` was kept
        },
        "instances": [
            inst("kafka", 1, "starting"),
            *(inst("web", n) for n in range(1, 5)),
            inst("web", 5, "starting"),
            inst("web", 6, "starting"),
            inst("api", 1),
            inst("api", 2),
        ],
    }
    assert replica_counts(snapshot) == ["web: 4/6 healthy"]
    assert replica_counts({}) == []
