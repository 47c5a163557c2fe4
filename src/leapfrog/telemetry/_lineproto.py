"""Prometheus samples as InfluxDB line protocol.

One line per sample: `<prefix><sample name>,<tags> value=<float> <ns timestamp>`, tags
being the given ones (service, instance, host) plus the sample's labels (`le` for a
histogram bucket, `quantile` for a summary), sorted by key as InfluxDB prefers. Samples
named `*_created` (a creation time, not a measurement) and values that are not finite
(line protocol has no NaN or infinity) are left out.

Escaping follows the line-protocol reference: a backslash before comma and space in a
measurement, before comma, equals sign and space in tag keys, tag values and field keys,
and a doubled backslash for a backslash. Tags cannot hold line breaks: they become spaces.
Tags with an empty key or value are left out, as InfluxDB does. A label with the name
of a given tag is kept as `exported_<name>`: the given tags say who sent the sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["escape_measurement", "escape_tag", "line", "to_line_protocol"]

_MEASUREMENT = str.maketrans({"\\": "\\\\", ",": "\\,", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})
_TAG = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\=", " ": "\\ ", "\n": "\\ ", "\r": "\\ "})


def escape_measurement(name: str) -> str:
    escaped = name.translate(_MEASUREMENT)
    # A line starting with '#' is a comment: escape it away.
    return "\\" + escaped if escaped.startswith("#") else escaped


def escape_tag(text: str) -> str:
    """For tag keys, tag values and field keys."""
    return text.translate(_TAG)


def line(
    measurement: str, tags: Mapping[str, str], fields: Mapping[str, float], timestamp_ns: int
) -> str:
    tag_text = "".join(
        f",{escape_tag(k)}={escape_tag(v)}" for k, v in sorted(tags.items()) if k and v
    )
    field_text = ",".join(f"{escape_tag(k)}={_float(v)}" for k, v in fields.items())
    return f"{escape_measurement(measurement)}{tag_text} {field_text} {timestamp_ns}"


def to_line_protocol(
    registry: Any,
    tags: Mapping[str, str],
    timestamp_ns: int,
    *,
    measurement_prefix: str = "",
) -> list[str]:
    """Every sample of a prometheus_client `CollectorRegistry` (anything with `collect()`)."""
    lines: list[str] = []
    for family in registry.collect():
        lines.extend(_family_lines(family.samples, tags, timestamp_ns, measurement_prefix))
    return lines


def _family_lines(
    samples: Iterable[Any], tags: Mapping[str, str], timestamp_ns: int, prefix: str
) -> Iterable[str]:
    for sample in samples:
        if sample.name.endswith("_created"):
            continue
        value = float(sample.value)
        if not math.isfinite(value):
            continue
        sample_tags = {
            (f"exported_{k}" if k in tags else str(k)): str(v) for k, v in sample.labels.items()
        }
        sample_tags.update(tags)
        yield line(prefix + sample.name, sample_tags, {"value": value}, timestamp_ns)


def _float(value: float) -> str:
    text = repr(float(value))
    return text if ("." in text or "e" in text) else text + ".0"
