"""Jinja2 templates over the catalog, with consul-template's functions.

`service("web", tag="v2", passing=True)`, `services()`, `key("path")`, `keys("prefix")`
read the catalog through the watcher: the first render of a template finds out what it
reads; anything not fetched yet renders empty and the render counts as incomplete, so it
is done again once every answer is in. A missing service is an empty list, never an error.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from leapfrog.lb._data import KeyPair, ServiceInstance, ServiceName
from leapfrog.lb._route_map import RoutePool
from leapfrog.lb._routes import backend_name, route_of, sort_routes, unique_routes
from leapfrog.lb._slots import SlotTable
from leapfrog.lb._watch import Dep, Watcher
from leapfrog.shared.errors import LeapfrogError

__all__ = ["DEFAULT_TEMPLATES", "Rendered", "Template"]

DEFAULT_TEMPLATES = Path(__file__).parent / "templates"
"""haproxy.cfg.j2 and nginx.conf.j2: one backend per service, routes from service meta."""


@dataclass(frozen=True)
class Rendered:
    text: str
    complete: bool
    """False while some answer the template asked for has not come yet."""
    deps: frozenset[Dep]


def _regex_escape(text: str) -> str:
    return "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in text)


class Template:
    def __init__(
        self, source: Path, context: Mapping[str, Any] | None = None, slots: int = 4
    ) -> None:
        self.source = source.resolve()
        self.context = dict(context or {})
        self.slots = SlotTable(slots)
        self.pool = RoutePool()
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.source.parent)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        self._env.filters["backend_name"] = backend_name
        self._env.filters["sort_routes"] = sort_routes
        self._env.filters["unique_routes"] = unique_routes
        self._env.filters["regex_escape"] = _regex_escape
        self._compiled = self._load()

    def _load(self) -> jinja2.Template:
        try:
            return self._env.get_template(self.source.name)
        except jinja2.TemplateSyntaxError as exc:
            where = f"{exc.filename or self.source}:{exc.lineno}"
            raise LeapfrogError(
                f"{where}: template syntax error: {exc.message}",
                hint="fix the template (Jinja2 syntax)",
            ) from None
        except (jinja2.TemplateNotFound, OSError) as exc:
            raise LeapfrogError(
                f"cannot read the template {self.source}: {exc}",
                hint="give an existing template file",
            ) from None

    def render(self, watcher: Watcher) -> Rendered:
        deps: set[Dep] = set()
        missing: set[Dep] = set()

        def need(dep: Dep) -> Any:
            deps.add(dep)
            watcher.watch(dep)
            if not watcher.has(dep):
                missing.add(dep)
                return None
            return watcher.data[dep]

        def service(name: str, tag: str | None = None, passing: bool = True) -> Any:
            found: list[ServiceInstance] | None = need(
                ("service", name, tag or "", "passing" if passing else "any")
            )
            return found or []

        def services() -> list[ServiceName]:
            found: list[ServiceName] | None = need(("services",))
            return found or []

        def key(path: str, default: str = "") -> str:
            value: str | None = need(("key", path.strip("/")))
            return default if value is None else value

        def keys(prefix: str) -> list[KeyPair]:
            found: list[KeyPair] | None = need(("keys", prefix.lstrip("/")))
            return found or []

        functions = {
            "service": service,
            "services": services,
            "key": key,
            "keys": keys,
            "slots": self.slots.place,
            "route_table": self.pool.table,
            "route": route_of,
        }
        try:
            text = self._compiled.render(**self.context, **functions)
        except LeapfrogError:
            raise
        except Exception as exc:  # a template's own runtime error, reported with its line
            raise LeapfrogError(
                f"{self._where(exc)}: template error: {exc}", hint="fix the template"
            ) from None
        return Rendered(text, not missing, frozenset(deps))

    def _where(self, exc: BaseException) -> str:
        """file:line of the template frame that raised (Jinja maps its frames to the file)."""
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename and Path(frame.filename).name.endswith(self.source.name):
                line = frame.lineno
        return f"{self.source}:{line}" if line else str(self.source)
