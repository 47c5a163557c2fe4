"""`PUT /v1/agent/service/register` and `/v1/agent/check/register` bodies to records."""

from __future__ import annotations

from leapfrog.catalog._body import BadRequest, Fields
from leapfrog.catalog._checkdef import parse_check
from leapfrog.catalog._model import Check, Service

__all__ = ["parse_check_registration", "parse_service"]

_MAX_META = 64


def _meta(fields: Fields) -> dict[str, str]:
    meta = fields.str_map("Meta")
    if len(meta) > _MAX_META:
        raise BadRequest(f"Invalid Meta: at most {_MAX_META} keys")
    for key, value in meta.items():
        if not key or len(key) > 128 or len(value) > 512:
            raise BadRequest(f"Invalid Meta: key {key[:40]!r} (keys 1-128, values up to 512 chars)")
    return meta


def _weights(fields: Fields) -> tuple[int, int]:
    weights = fields.obj("Weights")
    if weights is None:
        return 1, 1
    passing = weights.integer("Passing", 1, low=0, high=65535)
    warning = weights.integer("Warning", 1, low=0, high=65535)
    if passing < 1:
        raise BadRequest("Passing must be greater than 0")
    return passing, warning


def parse_service(fields: Fields) -> tuple[Service, list[tuple[Check, bool]]]:
    name = fields.text("Name", "Service")
    if not name:
        raise BadRequest("Missing service name")
    service_id = fields.text("ID", "ServiceID") or name
    tagged = fields.raw("TaggedAddresses")
    if tagged is not None and not isinstance(tagged, dict):
        raise BadRequest("Request decode failed: TaggedAddresses must be an object")
    passing, warning = _weights(fields)
    service = Service(
        id=service_id,
        name=name,
        tags=fields.str_list("Tags"),
        address=fields.text("Address"),
        port=fields.integer("Port", 0, 0, 65535),
        meta=_meta(fields),
        tagged_addresses=tagged,
        weight_passing=passing,
        weight_warning=warning,
        enable_tag_override=fields.boolean("EnableTagOverride"),
    )
    definitions = []
    single = fields.obj("Check")
    if single is not None:
        definitions.append(single)
    definitions.extend(fields.obj_list("Checks"))
    checks = []
    for number, check_fields in enumerate(definitions, 1):
        default_id = (
            f"service:{service_id}" if len(definitions) == 1 else f"service:{service_id}:{number}"
        )
        check_id = check_fields.text("CheckID", "ID") or default_id
        check_name = check_fields.text("Name") or f"Service '{name}' check"
        checks.append(parse_check(check_fields, check_id, check_name, service_id))
    return service, checks


def parse_check_registration(fields: Fields, services: set[str]) -> tuple[Check, bool]:
    name = fields.text("Name")
    if not name:
        raise BadRequest("Missing check name")
    check_id = fields.text("CheckID", "ID") or name
    service_id = fields.text("ServiceID")
    if service_id and service_id not in services:
        raise BadRequest(f'ServiceID "{service_id}" does not exist')
    return parse_check(fields, check_id, name, service_id, alone=True)
