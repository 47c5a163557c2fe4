"""The service fields for routing and deployment: route shorthand, drain, resources."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from leapfrog.spec import AutoscaleSpec, ResourcesSpec, RouteSpec, ServiceSpec


def test_route_shorthand_and_validation() -> None:
    assert RouteSpec.model_validate("/hello").path == "/hello"
    with pytest.raises(ValidationError, match="path, a host, or both"):
        RouteSpec.model_validate({})
    with pytest.raises(ValidationError, match="path prefix"):
        RouteSpec.model_validate("hello")
    with pytest.raises(ValidationError, match="host name"):
        RouteSpec.model_validate({"host": "Not A Host"})


def test_a_drain_written_must_fit_the_grace_period() -> None:
    with pytest.raises(ValidationError, match=r"drain .* shorter than stop_grace_period"):
        ServiceSpec.model_validate({"command": "x", "drain": "5s", "stop_grace_period": "5s"})


def test_the_default_drain_shrinks_to_half_a_short_grace_period() -> None:
    short = ServiceSpec.model_validate({"command": "x", "stop_grace_period": "1s"})
    assert short.drain_time == 0.5
    assert ServiceSpec.model_validate({"command": "x"}).drain_time == 1.0
    written = ServiceSpec.model_validate({"command": "x", "drain": "3s"})
    assert written.drain_time == 3.0


def test_quantities_and_autoscale_bounds() -> None:
    assert ResourcesSpec(cpu="250m", memory="1Gi").cpu == "250m"
    with pytest.raises(ValidationError, match="quantity"):
        ResourcesSpec(memory="lots")
    with pytest.raises(ValidationError, match="more than max"):
        AutoscaleSpec(min=5, max=2)
