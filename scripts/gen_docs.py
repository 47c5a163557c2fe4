"""Write the stack-file docs from the models: docs/stack.schema.json and docs/stack-file.md.

    python scripts/gen_docs.py          write both files
    python scripts/gen_docs.py --check  exit 1, naming them, if either is out of date

The tables of docs/stack-file.md come from the models' fields (type, default, description),
so they cannot drift from what leapfrog accepts; the prose around them is written by hand
below, as templates. tests/unit/test_docs_in_sync.py fails when the files are stale, and
checks that the example error output pasted here is still what leapfrog prints.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from leapfrog.components import known_components
from leapfrog.runtime.local.environment import INHERITED as INHERITED_NAMES
from leapfrog.runtime.local.instance import NO_CHECK_SETTLE, InstanceState
from leapfrog.shared.durations import format_duration
from leapfrog.spec import (
    MAX_FILE_BYTES,
    NAME_PATTERN,
    ByteSize,
    Duration,
    StackSpec,
    json_schema,
)
from leapfrog.spec._yamlnodes import MAX_DEPTH, MAX_STRING, MAX_VALUES

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = Path("docs/stack.schema.json")
REFERENCE_FILE = Path("docs/stack-file.md")
COMMAND = "python scripts/gen_docs.py"

# -- the reference tables, from the models ----------------------------------------------------

_DURATION_MARKER = get_args(Duration)[1]
_SIZE_MARKER = get_args(ByteSize)[1]

SHORTHANDS: dict[tuple[str, str], str] = {
    ("ServiceSpec", "command"): "string",
    ("ServiceSpec", "env"): "list of `NAME=value`",
    ("ServiceSpec", "depends_on"): "list of names",
    ("ServiceSpec", "restart"): "policy name",
    ("ServiceSpec", "route"): "path prefix",
    ("CheckSpec", "exec"): "string",
    ("StackSpec", "identity"): "boolean",
    ("KafkaOptions", "log_retention"): "duration such as `7d`, or -1",
    ("TopicOptions", "retention"): "duration such as `7d`, or -1",
}
"""Other forms a field accepts besides its model type, written before it in the type column.

Each must match a field the JSON Schema gives alternatives (`anyOf`) to, and the other way
round: `_check_shorthands` fails the run when schema.py and this table disagree.
"""


@dataclass(frozen=True)
class Section:
    """One table of the reference: a model and the stack-file path it is written under."""

    model: type[BaseModel]
    path: str

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.path.lower()).strip("-") or "top-level"

    @property
    def title(self) -> str:
        return f"`{self.path}`" if self.path else "Top level"

    def link(self) -> str:
        return f"[`{self.path}`](#{self.anchor})"


def sections() -> list[Section]:
    """Every model of the stack file, depth first in field order, starting at the top."""
    found: list[Section] = []

    def walk(model: type[BaseModel], path: str) -> None:
        found.append(Section(model, path))
        for name, field in model.model_fields.items():
            nested = _nested_model(field.annotation)
            if nested is not None:
                model_type, suffix = nested
                key = f"{path}.{name}" if path else name
                walk(model_type, key + suffix)

    walk(StackSpec, "")
    for kind, model in sorted(known_components().items()):
        walk(model, f"components.{kind}")
    return found


def _nested_model(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model a field holds, and what its path adds: `.<name>` for one per name (a
    mapping of them), `[]` for a list of them, nothing for one."""
    annotation = _without_none(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    if get_origin(annotation) in (dict, list):
        value = get_args(annotation)[-1]
        if isinstance(value, type) and issubclass(value, BaseModel):
            return value, ".<name>" if get_origin(annotation) is dict else "[]"
    return None


def _without_none(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        rest = [a for a in get_args(annotation) if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _is_duration(field: FieldInfo) -> bool:
    return _DURATION_MARKER in field.metadata


def _type_name(annotation: Any, by_model: dict[type[BaseModel], Section]) -> str:
    """A field's type in the words of the stack file rather than of Python."""
    annotation = _without_none(annotation)
    origin = get_origin(annotation)
    if origin is Annotated and _SIZE_MARKER in get_args(annotation)[1:]:
        return "size"
    if origin is Annotated:  # components' own parsed types: their descriptions say the form
        return _type_name(get_args(annotation)[0], by_model)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a, by_model) for a in get_args(annotation))
    if origin is Literal:  # as leapfrog reads them: a bare `no` is the policy no
        values = [f"`{v}`" for v in get_args(annotation)]
        return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"
    if origin is list and _nested_model(annotation) is not None:
        return f"list of {by_model[get_args(annotation)[0]].link()}"
    if origin is list:
        return f"list of {_plural(_type_name(get_args(annotation)[0], by_model))}"
    if origin is dict:
        value = get_args(annotation)[1]
        if value is Any:
            return "mapping"
        if isinstance(value, type) and issubclass(value, BaseModel):
            return f"mapping of name → {by_model[value].link()}"
        return f"mapping of name → {_type_name(value, by_model)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"mapping ({by_model[annotation].link()})"
    simple = {str: "string", bool: "boolean", int: "integer", float: "number"}
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no stack-file name for the type {annotation!r}: add one to _type_name")


def _plural(noun: str) -> str:
    return noun if noun.startswith(("list", "mapping")) else f"{noun}s"


def _bounds(field: FieldInfo) -> str:
    low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in field.metadata if isinstance(m, annotated_types.Le)), None)
    if low is not None and high is not None:
        return f", {low}–{high}"
    if low is not None:
        return f", at least {low}"
    if high is not None:
        return f", at most {high}"
    return ""


def field_type(section: Section, name: str, by_model: dict[type[BaseModel], Section]) -> str:
    field = section.model.model_fields[name]
    if _is_duration(field):
        text = "duration"
    elif _SIZE_MARKER in field.metadata:
        text = "size, at least 64KiB"
    else:
        text = _type_name(field.annotation, by_model) + _bounds(field)
    shorthand = SHORTHANDS.get((section.model.__name__, name))
    return f"{shorthand} or {text}" if shorthand else text


def field_default(field: FieldInfo, by_model: dict[type[BaseModel], Section]) -> str:
    """The default as it would be written in the stack file."""
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True, validated_data={})
    if isinstance(value, BaseModel):
        return f"see {by_model[type(value)].link()}"
    if value is None:
        return "—"
    if _is_duration(field):
        return f"`{format_duration(value)}`"
    if _SIZE_MARKER in field.metadata:
        return f"`{value // (1024 * 1024)}MiB`" if value % (1024 * 1024) == 0 else f"`{value}`"
    return f"`{_yaml_scalar(value)}`"


def _yaml_scalar(value: object) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def field_description(field: FieldInfo) -> str:
    text = field.description or ""
    if field.examples:
        shown = ", ".join(f"`{_yaml_scalar(e)}`" for e in field.examples)
        text += f" Example: {shown}."
    return text


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def reference() -> str:
    """The generated part of docs/stack-file.md: one table per section."""
    found = sections()
    by_model = {s.model: s for s in found}
    parts: list[str] = []
    for section in found:
        doc = inspect.cleandoc(section.model.__doc__ or "")
        rows = [
            "| Key | Type | Default | Description |",
            "| --- | --- | --- | --- |",
        ]
        for name, field in section.model.model_fields.items():
            cells = (
                f"`{name}`",
                field_type(section, name, by_model),
                field_default(field, by_model),
                field_description(field),
            )
            rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        parts.append(
            f'<a id="{section.anchor}"></a>\n\n### {section.title}\n\n{doc}\n\n' + "\n".join(rows)
        )
    return "\n\n".join(parts)


def _check_shorthands(schema: dict[str, Any]) -> None:
    """SHORTHANDS names exactly the fields whose schema lists other forms (not durations)."""
    expected: set[tuple[str, str]] = set()
    for section in sections():
        model = section.model
        if model is StackSpec:
            props = schema["properties"]
        else:
            props = schema["$defs"][model.__name__]["properties"]
        for name, field in model.model_fields.items():
            forms = [f for f in props[name].get("anyOf", []) if f != {"type": "null"}]
            if len(forms) > 1 and not _is_duration(field):
                expected.add((model.__name__, name))
    if expected != set(SHORTHANDS):
        missing = sorted(expected - set(SHORTHANDS))
        extra = sorted(set(SHORTHANDS) - expected)
        raise SystemExit(
            f"gen_docs.py: SHORTHANDS is out of step with the schema: missing {missing}, "
            f"not shorthand fields {extra}"
        )


# -- the prose around them ---------------------------------------------------------------------

EXAMPLE = """\
# yaml-language-server: $schema=stack.schema.json
name: shop                    # optional: defaults to the name of this file's directory

x-defaults: &defaults         # x- keys are ignored by leapfrog: a place for YAML anchors
  restart: always
  stop_grace_period: 20s

services:
  web:
    <<: *defaults             # merges restart and stop_grace_period from x-defaults
    command: python -m http.server ${PORT} --bind ${HOST}   # split like a shell would
    replicas: 2               # web-1 and web-2, each on its own 127.x.y.z, same port
    port: 8080                # every instance listens on HOST:8080; also $PORT
    env:
      API_URL: http://${API_ENDPOINTS}    # set because web depends on api
      PRICE_TAG: "costs $$5"  # $$ is a literal $: the value is `costs $5`
      DEBUG: yes              # kept as written: the text `yes`, not true
    depends_on: [api]         # list form: start once every api instance is healthy
    check:
      http: /health           # GET http://HOST:PORT/health; 2xx or 3xx is healthy
      interval: 10s           # probe every 10s once healthy...
      timeout: 1s
      retries: 3              # ...and call it unhealthy after 3 failures in a row
      start_interval: 50ms    # first probes while starting, 10% further apart each time
      start_timeout: 1m30s    # not healthy within 1m30s: it failed to start
    version: 1.4.2            # LEAPFROG_VERSION; changing it rolls the instances
    route:                    # through the load balancer (component lb) at 127.0.0.1:8080
      path: /shop             # longest path prefix wins; `route: /shop` is the short form
      host: shop.localhost    # and/or the Host header
      strip_prefix: false     # true: the service sees / for /shop
    drain: 2s                 # on stop: keep serving 2s after leaving the catalog
    rollout:                  # how `up` rolls a change out (`leapfrog rollout history web`)
      max_surge: 1            # start one new instance beside the old ones first
      max_unavailable: 0      # ...and never have fewer than replicas serving
      min_ready: 5s           # a new instance counts once it has passed for 5s
      progress_deadline: 2m   # each step's new instances pass within 2m, else it fails
      auto_revert: true       # a failed rollout goes back to the previous revision
      canary: 1               # pause once 1 new instance serves: `leapfrog rollout promote web`
      promote_after: 5m       # ...or it promotes itself once it has passed for 5m
    image: registry.example.com/shop-web:1.4.2   # Kubernetes only; unused locally
    build: {containerfile: web/Containerfile, context: web, args: {APP: web}}   # `leapfrog image build`
    resources: {cpu: 250m, memory: 256Mi, cpu_limit: "1", memory_limit: 512Mi}
    autoscale:                # the supervisor locally, a HorizontalPodAutoscaler on Kubernetes
      min: 2
      max: 10
      cpu_percent: 70         # and/or requests_per_second, in_flight (per instance)
      scale_up: {stabilization: 0s, pods: 4, percent: 100, period: 15s}
      scale_down: {stabilization: 5m, percent: 100, period: 15s}
    allow_from: [worker]      # callers besides those that depend on web (NetworkPolicy)
    kv: [shop/web/]           # catalog KV prefixes its instances may read with their own token
    kv_write: [shop/carts/]   # ... and those they may also write

  api:
    command: [python, -m, api, --host, "${HOST}", --port, "${PORT}"]   # list: no splitting
    port: 9000
    callers: [web]            # exactly these services may call api (firewall, NetworkPolicy)
    env:                      # list form of env
      - LOG_LEVEL=info
      - REDIS_URL=redis://${CACHE_ENDPOINTS}
    depends_on:               # mapping form
      cache: {condition: started}   # only wait for cache's processes to be started
      worker:                 # no condition: healthy
    check:
      tcp: true               # healthy once a connection to HOST:PORT succeeds
    restart:
      policy: on-failure      # restart after a non-zero exit or a signal
      backoff: 1s             # 1s, 2s, 4s, ... between restarts
      max_backoff: 1m         # ... but never more than 1m
      reset_after: 30s        # up for 30s: the next crash starts again from 1s
      crashloop_after: 10     # 10 quick crashes in a row: state crashloop
    logs:
      max_size: 50MiB         # rotated while it runs: api-1.log -> api-1.log.1 ...
      max_files: 3            # at most 150MiB of its output on disk
    stop_signal: SIGINT       # sent by `leapfrog down`; SIGKILL after stop_grace_period
    stop_grace_period: 5s
    scrape: {path: /metrics, interval: 15s}   # its Prometheus page, to the metrics topic
    volumes: ["uploads:/srv/uploads"]   # NAME:/path in the container on Kubernetes

  worker:
    command: python -m worker --data ${LEAPFROG_DATA_DIR}
    working_dir: worker       # relative to this file's directory; must exist
    check:
      exec: sh -c 'test -f "$LEAPFROG_DATA_DIR/ready"'   # exit status 0 is healthy
    restart: 'no'             # quoted or not: a bare no means the same here
    volumes:                  # each found in LEAPFROG_VOLUME_<NAME>
      - queue                 # LEAPFROG_VOLUME_QUEUE: worker-1's own directory
      - name: uploads         # the long form
        mount: /srv/uploads   # default: /volumes/<name>
    # user: www-data          # run as another user: needs leapfrog to run as root

  cache:
    command: redis-server --bind ${HOST} --port ${PORT}
    port: 6379
    check: {tcp: true}

volumes:                      # named volumes: kept across down/up and rollouts
  queue:                      # the defaults: a directory per instance, in the state dir
    size: 1Gi                 # an ext4 image of 1GiB per instance (needs root; else noted)
  uploads:
    scope: shared             # one directory for every instance of its services
    path: uploads             # relative to this file's directory

# components:                 # platform components (kafka, postgres, ...) come in
#   postgres:                 # later versions; this one knows none yet

catalog:                      # the Consul-compatible service catalog, started first
  enabled: true
  http: 127.0.0.1:8500        # Consul HTTP API (CONSUL_HTTP_ADDR for every unit)
  dns: 127.0.0.1:8600         # DNS interface, UDP and TCP
  datacenter: dc1
  # recursors: [10.0.0.2]     # DNS servers asked names outside .consul; default: the
                              # host's resolv.conf nameservers; []: such names refused
  acl: true                   # every request needs a token; `up` hands out CONSUL_HTTP_TOKEN
  anonymous_read: false       # true: reads without a token see everything (KV included)

local:
  state_dir: .leapfrog        # run state, logs and data; relative to this file's directory
  addresses: 127.42.0.0/16    # instance addresses come from this loopback network
  app_user: leapfrog          # the user services run as when leapfrog runs as root

network:                      # isolation of instances on this machine (docs/networking.md)
  isolation: namespaces       # a network namespace each, default-deny firewall; needs root
  subnet: 10.231.7.0/24       # the stack's bridge network; .1 is the host's address

identity:                     # service identity (docs/networking.md); `identity: true` for short
  mtls: true                  # services serve mutual TLS with the catalog's certificates
  default: deny               # callers no intention allows get 403 (intentions from `callers`)

host_logs:                    # the machine's own logs, to the logs topic with the stack's
  kmsg: true                  # kernel ring buffer (/dev/kmsg; needs root)
  audit: false                # /var/log/audit/audit.log
  journal: false              # systemd journal, when systemd runs
  syslog: false               # /var/log/syslog

kubernetes:                   # `leapfrog render --target kubernetes`, `leapfrog apply`
  namespace: shop             # default: the stack's name
  images: {consul: "hashicorp/consul:1.21"}   # replace a platform part's default image
  storage_class: standard     # default: the cluster's default StorageClass
  storage: {postgres: 20Gi}   # volume size per stateful part
  write_secrets: false        # true writes generated passwords into rendered files
"""
"""The complete annotated example; the test checks that it loads and fits the schema."""

BROKEN_EXAMPLE = """\
services:
  web:
    command: python -m http.server ${PORT} --bind ${HOST}
    replcas: 2
    port: 80800
    check:
      http: health
      interval: 5 seconds
    restart: never
"""
"""A stack file with mistakes; BROKEN_OUTPUT is what `leapfrog validate` prints for it."""

BROKEN_OUTPUT = """\
leapfrog.yaml has 5 problems
leapfrog.yaml:4:5 services.web.replcas: unknown key `replcas`
  4 |     replcas: 2
    |     ^ hint: did you mean `replicas`?
leapfrog.yaml:5:11 services.web.port: expected an integer from 1 to 65535, found 80800
  5 |     port: 80800
    |           ^
leapfrog.yaml:7:13 services.web.check.http: expected a path starting with '/', such as /health, found 'health'
  7 |       http: health
    |             ^
leapfrog.yaml:8:17 services.web.check.interval: expected a duration such as 500ms, 10s or 1m30s, found '5 seconds'
  8 |       interval: 5 seconds
    |                 ^
leapfrog.yaml:9:14 services.web.restart.policy: expected one of always, on-failure, no, found 'never'
  9 |     restart: never
    |              ^ hint: use one of: always, on-failure, no
"""  # noqa: E501  (pasted output of `leapfrog validate -f leapfrog.yaml`, stderr)

COMPONENT_EXAMPLE = """\
services:
  web:
    command: python -m http.server ${PORT} --bind ${HOST}
    port: 8000
components:
  kafak: {}
  postgres:
    databses:
      app: {}
"""

COMPONENT_OUTPUT = """\
leapfrog.yaml has 2 problems
leapfrog.yaml:6:3 components.kafak: unknown component `kafak`
  6 |   kafak: {}
    |   ^ hint: did you mean `kafka`?
leapfrog.yaml:8:5 components.postgres.databses: unknown key `databses`
  8 |     databses:
    |     ^ hint: did you mean `databases`?
"""

PASTED_OUTPUTS = {BROKEN_EXAMPLE: BROKEN_OUTPUT, COMPONENT_EXAMPLE: COMPONENT_OUTPUT}
"""Stack file -> what `leapfrog validate -f leapfrog.yaml` printed for it (checked by a test)."""

STATES: dict[InstanceState, str] = {
    InstanceState.STARTING: (
        "Waiting for its dependencies, started but not yet healthy, or waiting out the "
        "backoff before a restart. `leapfrog status` says which."
    ),
    InstanceState.HEALTHY: (
        "Its check passed: the first passing probe makes a starting instance healthy. Without "
        "a `check:`, an instance is healthy once it has stayed up for {{no_check_settle}}."
    ),
    InstanceState.UNHEALTHY: (
        "Running, but `retries` probes in a row failed after it had been healthy, or it was "
        "not healthy within `start_timeout` of starting (then `leapfrog up -d` reports it as "
        "failed). leapfrog keeps probing, every `interval`, and does not restart it: one "
        "passing probe makes it healthy again."
    ),
    InstanceState.CRASHLOOP: (
        "It exited `crashloop_after` times in a row, each time sooner than `reset_after` "
        "after it started. leapfrog still restarts it as the restart policy says, with the "
        "growing backoff, and `leapfrog up -d` reports it as failed; fix the cause, then "
        "`leapfrog restart` it."
    ),
    InstanceState.STOPPED: (
        "Not running: `leapfrog down` stopped it, it exited and its restart policy says not "
        "to restart it (an exit with status 0 under `on-failure` is a one-shot that "
        "completed, which counts as healthy for the services that depend on it), or it "
        "could not be started at all (program not found, port already in use)."
    ),
}
"""What each instance state means; every state of InstanceState must be here."""


def _states_table() -> str:
    missing = set(InstanceState) - set(STATES)
    if missing:
        raise SystemExit(f"gen_docs.py: STATES does not describe {sorted(missing)}")
    rows = ["| State | Meaning |", "| --- | --- |"]
    rows += [f"| `{state}` | {_cell(text)} |" for state, text in STATES.items()]
    return "\n".join(rows)


ENVIRONMENT: dict[str, str] = {
    "`HOST`": "The instance's own loopback address, such as `127.42.0.2`, from "
    "`local.addresses`. Listen on it: every instance has its own, so replicas share a port.",
    "`PORT`": "The service's `port:`. Not set when the service has no port.",
    "`LEAPFROG_STACK`": "The stack's name.",
    "`LEAPFROG_SERVICE`": "The service's name, such as `web`.",
    "`LEAPFROG_INSTANCE`": "The instance's name: the service's name and its index, "
    "such as `web-2`.",
    "`LEAPFROG_INSTANCE_INDEX`": "The instance's index, from 1 to `replicas`.",
    "`LEAPFROG_DATA_DIR`": "A directory of the instance's own, for its data: "
    "`<state_dir>/data/<instance>`. It outlives restarts of the instance.",
    "`<DEP>_ENDPOINTS`": "One for each entry of `depends_on`: the dependency's instances as "
    "`address:port` (just the address when it has no port), comma-separated. `<DEP>` is its "
    "name in upper case with `-` as `_`: `depends_on: [user-db]` gives "
    "`USER_DB_ENDPOINTS=127.42.0.5:5432`.",
}
"""The variables leapfrog sets (runtime/local/launch.py); the inherited ones are added below."""

INHERITED = (
    "Passed on from leapfrog's own environment when set there; `PATH` defaults to "
    "`/usr/local/bin:/usr/bin:/bin`. When leapfrog runs as root and starts the instance as "
    "another user, `HOME` is the instance's `LEAPFROG_DATA_DIR` and `USER` and `LOGNAME` "
    "are that user's name."
)


def _environment_table() -> str:
    rows = {**ENVIRONMENT, ", ".join(f"`{name}`" for name in INHERITED_NAMES): INHERITED}
    lines = ["| Variable | Value |", "| --- | --- |"]
    lines += [f"| {name} | {_cell(text)} |" for name, text in rows.items()]
    return "\n".join(lines)


DOCUMENT = """\
# The stack file

<!-- Generated by scripts/gen_docs.py from the models in src/leapfrog/spec/models.py.
     Do not edit by hand: change the models or the script, then run `{{command}}`. -->

A stack file, `leapfrog.yaml`, describes a whole service platform: the team's services,
how each one is started, checked, restarted and connected to the others, and (in later
versions) the platform components they use. `leapfrog up` runs all of it on one machine.
This page is the reference of every key; [`stack.schema.json`](stack.schema.json) is the
same thing as a JSON Schema, for editors.

- [Where leapfrog finds it](#where-leapfrog-finds-it)
- [Editor support](#editor-support)
- [A complete example](#a-complete-example)
- [Reference](#reference)
- [Shorthand forms](#shorthand-forms)
- [Variables: `${VAR}`](#variables)
- [The environment of an instance](#the-environment-of-an-instance)
- [Instance states](#instance-states)
- [Names](#names)
- [Extension keys: `x-`](#extension-keys)
- [Components](#components)
- [When the file is wrong](#when-the-file-is-wrong)

## Where leapfrog finds it

Every command reads one stack file, the first of:

1. `-f FILE` (or `--file FILE`), before or after the command: `leapfrog -f stack.yaml up`
   and `leapfrog up -f stack.yaml` are the same (after `logs`, where `-f` means follow,
   write `--file`);
2. the file named by the environment variable `$LEAPFROG_FILE`;
3. `./leapfrog.yaml`, in the current directory.

Relative paths in the file (`working_dir`, `local.state_dir`) are relative to the directory
the stack file is in, not to the directory leapfrog is run from. The file is YAML, in UTF-8.
`leapfrog validate` checks it without running anything, and `leapfrog validate --json`
prints it with every default filled in.

## Editor support

`leapfrog schema` prints the JSON Schema of the stack file; in this repository it is also
[`docs/stack.schema.json`](stack.schema.json). Editors that use
[yaml-language-server](https://github.com/redhat-developer/yaml-language-server) (VS Code
with the YAML extension, Neovim, Helix, ...) complete keys, show the descriptions below
and underline mistakes when the stack file's first line names the schema:

```yaml
# yaml-language-server: $schema=stack.schema.json
```

The path is relative to the stack file: write `leapfrog schema > stack.schema.json` next
to it, or point at this repository's copy (`examples/leapfrog.yaml` uses
`$schema=../docs/stack.schema.json`). The schema accepts every shorthand form leapfrog
accepts; what it cannot know (unknown dependencies, cycles, names used twice) is found by
`leapfrog validate`.

## A complete example

Every key, with the forms you are likely to use. Only `services:` with a `command:` for
each service is required.

```yaml
{{example}}```

## Reference

Types are written as in the stack file: a *duration* is a length of time such as `500ms`,
`10s`, `1m30s` or a bare number of seconds (see [durations](#durations)); a *mapping* is a
YAML mapping (`key: value` lines, or `{key: value}`), a *list* a YAML sequence (`- item`
lines, or `[a, b]`). *or* means each form is accepted (see
[shorthand forms](#shorthand-forms)). A default of — means the key is unset unless written.

{{reference}}

## Shorthand forms

The long forms in the reference always work; these shorter ones mean the same.

### `restart`

`restart: always` is short for `restart: {policy: always}`, and the same holds for
`on-failure` and `no`.

YAML reads a bare `no` as the boolean false, not the text `no`, which is why other tools
insist on `restart: "no"`. leapfrog accepts both, and also `policy: no`: write it either
way. Quoting it, `restart: 'no'`, also keeps other YAML tools from reading false.

### `depends_on`

A list of names waits for each to be healthy:

```yaml
depends_on: [db, cache]
```

A mapping sets the condition of each: `healthy` (the default, also when nothing follows
the name) or `started`. Compose's `service_healthy` and `service_started` are accepted as
the same.

```yaml
depends_on:
  db: {condition: healthy}
  cache:
    condition: started
  queue:                     # healthy
```

A name may be a service or a component of the stack; leapfrog starts every service after
the ones it depends on, independent ones in parallel, and refuses a cycle.

### `command`

A string is split into the program and its arguments the way a shell would split it
(quotes group, backslashes escape), but no shell runs it: there are no pipes,
redirections or `$VAR` expansion. A list is used as it is, one argument per item. Both
may use [`${VAR}`](#variables). To run a shell command line, run the shell:

```yaml
command: python -m app --port ${PORT}
command: [python, -m, app, --port, "${PORT}"]
command: [sh, -c, "exec python -m app --port $PORT >> app.log"]
```

`check.exec` accepts the same two forms, but without `${VAR}` substitution: it runs with
the instance's environment, so a shell can read the variables (`sh -c 'test -f
"$LEAPFROG_DATA_DIR/ready"'`).

### `env`

A mapping, or a list of `NAME=value` items (everything after the first `=` is the value):

```yaml
env:
  LOG_LEVEL: info
  WORKERS: 4
env: [LOG_LEVEL=info, WORKERS=4]
```

Values are text, kept as written: `DEBUG: yes` is `yes`, `VERSION: 1.10` is `1.10` and
`MODE: 0700` is `0700` (plain YAML would make them true, 1.1 and 448). An empty value
(`NAME:`) is the empty string. Names are letters, digits and `_`, not starting with a
digit.

### Durations

A duration is a number with a unit, `ms`, `s`, `m` or `h`, or several of them added up
(`1m30s`, `1h15m`, `1.5s`), or a bare number of seconds (`10`, `0.5`). Check timings must
lie between 10ms and 24h, and `stop_grace_period` can be at most 1h.

<a id="variables"></a>

## Variables: `${VAR}`

In `command` and in `env` values, `${NAME}` is replaced by the variable `NAME` of the
instance's environment (see the next section), and `$$` by a single `$`. `$NAME` without
braces is left alone.

```yaml
command: python -m http.server ${PORT} --bind ${HOST}
env:
  DATA: ${LEAPFROG_DATA_DIR}/db
  PEERS: ${WEB_ENDPOINTS}
  PATH: /opt/app/bin:${PATH}
  PRICE_TAG: costs $$5        # costs $5
```

`env` entries are substituted in the order they are written, so one may use those above
it; `command` sees them all. A variable that is not set stops `leapfrog up` before anything
starts, naming the line and the variables that are known. Only the variables of the next
section are set: leapfrog does not pass on the rest of its own environment, so write what a
service needs under `env:`.

## The environment of an instance

Each instance starts with exactly these variables, then the service's `env:` entries, which
may replace any of them.

{{environment}}

## Instance states

`leapfrog status` shows each instance in one of these states.

{{states}}

The `restart` settings work together: after an exit the restart policy decides whether the
instance is started again; the first restart waits `backoff`, each further one twice as
long, up to `max_backoff`. An instance that stayed up at least `reset_after` before it
exited starts again from `backoff`, and its count of crashes in a row from zero. A
dependency with `condition: healthy` is met once every instance of it is healthy (or
completed); `started` once its processes have been started.

## Names

The stack's `name` and the names of services and components match `{{name_pattern}}`:
lower-case letters, digits and `-`, starting with a letter, at most 40 characters. Names
become host names, directory names and, later, Kubernetes objects, which is why they are
strict; leapfrog suggests a valid spelling when one is not. A name is used once: a service
cannot have a component's name. Without `name:`, the stack is named after the stack file's
directory, made valid (lower case, `_` and other characters as `-`).

Instances are named after their service and index, `web-1`, `web-2`, ....

<a id="extension-keys"></a>

## Extension keys: `x-`

Top-level keys that start with `x-` are ignored, whatever they hold. They are the place for
YAML anchors that several services share, and for notes for other tools:

```yaml
x-python: &python
  restart: always
  env: {PYTHONUNBUFFERED: "1"}

services:
  web:
    <<: *python
    command: python -m web
```

Any other unknown key is an error, with a suggestion when it looks like a typo.

## Components

`components:` names the platform's real programs that leapfrog installs and runs for the
stack, each with its options (their reference tables are below, under
`components.<kind>`):

```yaml
components:
  kafka:                     # Apache Kafka 4.x in KRaft mode
    topics:
      orders: {partitions: 6, retention: 7d}
  zookeeper: {}              # Apache ZooKeeper 3.9, standalone
  postgres:                  # Debian's PostgreSQL, a cluster in the state directory
    roles: {app: {login: true}}
    databases: {app: {owner: app}}
    message_db: true         # Message DB, the event store, inside it
  opensearch: {heap: 512m}   # OpenSearch 2.x, one node, for searching logs
  influxdb:                  # InfluxDB 1.8, for metrics
    databases:
      metrics: {retention_policies: {month: {duration: 30d, default: true}}}
```

Each runs on its own loopback address, keeps its data in `<state_dir>/data/<kind>-1`
(which survives `down`/`up`), and is healthy when a real client of it answers. Every
service waits for every component and receives its connection environment:

| Component | Variables handed to services |
| --- | --- |
| kafka | `KAFKA_BOOTSTRAP_SERVERS` |
| zookeeper | `ZOOKEEPER_CONNECT` |
| postgres | `DATABASE_URL` (first database, its owner), `PGHOST`, `PGPORT`, `MESSAGE_DB_URL` |
| opensearch | `OPENSEARCH_URL` |
| influxdb | `INFLUXDB_URL` |
| the catalog | `CONSUL_HTTP_ADDR`, `CONSUL_HTTP_TOKEN` (with acl: the instance's own token, a service identity), `LEAPFROG_CATALOG_DNS`; with `identity:` on, `LEAPFROG_IDENTITY=on` |

Generated passwords and the catalog's tokens are kept mode 0600 in `<state_dir>/secrets`
and printed only by `leapfrog secrets`.

A component's name is its kind, and its options are checked like everything else:

```console
$ leapfrog validate -f leapfrog.yaml
{{component_output}}```

## When the file is wrong

leapfrog reads the whole file before it reports, and lists every problem at once, each
with its file, line and column, the dotted path of the key, the line itself with a caret,
and a hint where it has one. For this file:

```yaml
{{broken_example}}```

`leapfrog validate` (and every other command) prints, and exits with status 2:

```console
$ leapfrog validate -f leapfrog.yaml
{{broken_output}}```

Mistakes that involve several services (unknown dependencies, cycles, duplicate names) are
reported once each service's own keys are valid, and so are those that need the machine:
a `working_dir` must be an existing directory, `local.state_dir` a directory or a path
that can become one (not under `/dev/null` or a file), and no two listeners (the catalog's
`http` and `dns`, the load balancer's `listen` and `stats`) may share an address and port.

Types are strict: a number field takes a finite number, not `true` (which YAML also reads
from `yes` and `on`), a quoted `'8080'` nor `.nan` or `.inf`; a text field takes text
(quote `'1.10'`); ports and sizes take ASCII digits only.
Control characters (a tab, a line break, `\\0`, ...) are refused in every value and key,
where they could only break a path, a name or a line of a generated configuration file,
except in `command`, `check.exec` and `env` values, which reach a program as they are and
may hold any character but NUL. `x-` keys are not checked.

A stack file is small, and leapfrog answers any file quickly, however it was made, within
these limits:

| Limit | |
|---|---|
| File size | {{max_file}}; more (such as `/dev/zero`, an endless pipe) is not read |
| Length of one key or value | {{max_string}} characters |
| Keys and values | {{max_values}}, an alias counted at each use (alias bombs stop here) |
| Nesting | {{max_depth}} levels |
"""

_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def render_markdown() -> str:
    values = {
        "command": COMMAND,
        "example": EXAMPLE,
        "reference": reference(),
        "environment": _environment_table(),
        "states": _states_table(),
        "no_check_settle": format_duration(NO_CHECK_SETTLE),
        "name_pattern": NAME_PATTERN,
        "broken_example": BROKEN_EXAMPLE,
        "broken_output": BROKEN_OUTPUT,
        "component_output": COMPONENT_OUTPUT,
        "max_file": f"{MAX_FILE_BYTES >> 20} MiB",
        "max_string": f"{MAX_STRING:,}",
        "max_values": f"{MAX_VALUES:,}",
        "max_depth": str(MAX_DEPTH),
    }

    def fill(match: re.Match[str]) -> str:
        return _PLACEHOLDER.sub(fill, values[match.group(1)])

    return _PLACEHOLDER.sub(fill, DOCUMENT)


def render_schema() -> str:
    schema = json_schema()
    _check_shorthands(schema)
    return json.dumps(schema, indent=2) + "\n"


# -- running -----------------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    """What each generated file should hold, by path relative to the repository."""
    return {SCHEMA_FILE: render_schema(), REFERENCE_FILE: render_markdown()}


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files under `root` that are missing or differ from what would be written."""
    found = []
    for path, text in outputs().items():
        target = root / path
        try:
            current = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = None
        if current != text:
            found.append(path)
    return found


def write(root: Path = ROOT) -> Iterator[Path]:
    """Write every generated file that changed; yields each one written."""
    for path, text in outputs().items():
        target = root / path
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        yield path


def main(argv: Sequence[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a generated file is out of date"
    )
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale(root)
        if out_of_date:
            names = ", ".join(str(p) for p in out_of_date)
            print(f"out of date: {names}; regenerate with: {COMMAND}", file=sys.stderr)
            return 1
        return 0
    for path in write(root):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
