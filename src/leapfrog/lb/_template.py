"""Jinja2 templates over the catalog, with consul-template's functions.

`service("web", tag="v2", passing=True)`, `services()`, `key("path")`, `keys("prefix")`
read the catalog through the watcher: the first render of a template finds out what it
reads; anything not fetched yet renders empty and the render counts as incomplete, so it
is done again once every answer is in. A missing service is an empty list, never an error.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from leapfrog.lb._data import CaLeaf, KeyPair, ServiceInstance, ServiceName
from leapfrog.lb._route_map import RoutePool
from leapfrog.lb._routes import backend_name, route_of, sort_routes, unique_routes
from leapfrog.lb._slots import SlotTable
from leapfrog.lb._watch import Dep, Watcher
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text

__all__ = ["DEFAULT_TEMPLATES", "MeshFiles", "Rendered", "Template"]

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


@dataclass(frozen=True)
class MeshFiles:
    """A service's certificate and key (one PEM file) and the CA roots, written for the
    proxy to present to backends that serve mutual TLS."""

    crt: str
    ca: str
    serial: str


class Template:
    def __init__(
        self,
        source: Path,
        context: Mapping[str, Any] | None = None,
        slots: int = 4,
        files_dir: Path | None = None,
        group_readable: bool = False,
    ) -> None:
        """`files_dir`: where `mesh_files` writes certificates (0700, files 0600; with
        `group_readable` 0750 and 0640, for a proxy of another user in the same group)."""
        self.source = source.resolve()
        self.files_dir = files_dir
        self.group_readable = group_readable
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

        def ca_roots() -> str:
            """consul-template's `caRoots`: the CA's roots as one PEM bundle."""
            found: str | None = need(("ca_roots",))
            return found or ""

        def ca_leaf(name: str) -> CaLeaf | None:
            """consul-template's `caLeaf`: `name`'s certificate (fetched, then followed)."""
            found: CaLeaf | None = need(("ca_leaf", name))
            return found

        def mesh_files(name: str) -> MeshFiles | None:
            leaf, roots = ca_leaf(name), ca_roots()
            if leaf is None or not roots:
                return None
            return self._write_mesh(leaf, roots)

        functions = {
            "service": service,
            "ca_roots": ca_roots,
            "ca_leaf": ca_leaf,
            "mesh_files": mesh_files,
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

    def _write_mesh(self, leaf: CaLeaf, roots: str) -> MeshFiles:
        """The leaf (certificate and key) and the roots as files named by their contents,
        so a rotated leaf is a new name in the configuration (a reload that loads it);
        the previous files go."""
        if self.files_dir is None:
            raise LeapfrogError(
                "mesh_files() needs a directory for the certificates",
                hint="run the template through `leapfrog lb run` or `leapfrog template`",
            )
        folder = self.files_dir / "mesh"
        file_mode = 0o640 if self.group_readable else 0o600
        folder.mkdir(mode=0o750 if self.group_readable else 0o700, parents=True, exist_ok=True)
        serial = leaf.serial.replace(":", "") or "0"
        crt = folder / f"{leaf.service or 'leaf'}-{serial}.pem"
        ca = folder / f"roots-{hashlib.sha256(roots.encode()).hexdigest()[:16]}.pem"
        if not crt.exists():
            pem = leaf.cert_pem.rstrip("\n") + "\n" + leaf.private_key_pem
            atomic_write_text(crt, pem, mode=file_mode)
        if not ca.exists():
            atomic_write_text(ca, roots, mode=file_mode)
        for old in folder.iterdir():
            if old not in (crt, ca) and (
                old.name.startswith(f"{leaf.service or 'leaf'}-") or old.name.startswith("roots-")
            ):
                old.unlink(missing_ok=True)
        return MeshFiles(str(crt), str(ca), leaf.serial)

    def _where(self, exc: BaseException) -> str:
        """file:line of the template frame that raised (Jinja maps its frames to the file)."""
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename and Path(frame.filename).name.endswith(self.source.name):
                line = frame.lineno
        return f"{self.source}:{line}" if line else str(self.source)
