"""Reading `leapfrog.yaml`: every way it can be wrong ends in one SpecError listing all problems.

Callers get either a Stack they can trust or a SpecError to render; nothing else escapes,
because a traceback for a typo in a hand-written file is a bug in leapfrog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from leapfrog.components import known_components
from leapfrog.spec._checks import check_stack, sanitise_name
from leapfrog.spec._messages import describe, translate
from leapfrog.spec._yamlnodes import Locator, Spot, dotted, read_document
from leapfrog.spec._yamlnodes import Path as KeyPath
from leapfrog.spec.errors import Problem, SpecError
from leapfrog.spec.models import StackSpec
from leapfrog.spec.stack import Stack

__all__ = ["load_stack", "parse_stack"]

_MISSING_HINT = "create it, or pass -f FILE"


def load_stack(path: Path) -> Stack:
    """Read, validate and check the stack file at `path`."""
    filename = str(path)

    def fail(
        message: str, hint: str, line: int | None = None, column: int | None = None
    ) -> NoReturn:
        problem = Problem(filename, line, column, "(stack)", message, hint)
        raise SpecError([problem]) from None

    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        fail(f"no stack file at {filename}", _MISSING_HINT)
    except IsADirectoryError:
        fail(f"{filename} is a directory", f"pass the file, such as -f {path / 'leapfrog.yaml'}")
    except PermissionError:
        fail(f"cannot read {filename}: permission denied", "check the file's permissions")
    except (OSError, ValueError) as exc:
        fail(f"cannot read {filename}: {getattr(exc, 'strerror', None) or exc}", _MISSING_HINT)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        message = f"not UTF-8 text: the byte 0x{raw[exc.start]:02x} cannot be decoded"
        problem = Problem(filename, line, column, "(stack)", message, "save the file as UTF-8")
        raise SpecError([problem], raw.decode("utf-8", errors="replace")) from None
    return _parse(text, filename, _resolve(path, filename))


def parse_stack(text: str, filename: str, base_dir: Path) -> Stack:
    """Validate and check stack-file text; `filename` names it in messages, `base_dir` anchors
    its relative paths (the stack is taken to live there under the file's base name)."""
    return _parse(text, filename, _resolve(base_dir / Path(filename).name, filename))


def _resolve(path: Path, filename: str) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        problem = Problem(filename, None, None, "(stack)", f"cannot resolve {path}: {exc}")
        raise SpecError([problem]) from None


def _parse(text: str, filename: str, path: Path) -> Stack:
    data, spots = read_document(text, filename)
    locator = Locator(filename, spots)

    def fail(problems: list[Problem]) -> SpecError:
        return SpecError(problems, text)

    if data is None:
        hint = "add a `services:` mapping with at least one service"
        raise fail([Problem(filename, None, None, "(stack)", "the stack file is empty", hint)])
    if not isinstance(data, dict):
        message = (
            f"expected a mapping (keys such as `services:`) at the top, found {describe(data)}"
        )
        raise fail([locator.problem((), message, "start the file with `services:`")])
    data = {k: v for k, v in data.items() if not k.startswith("x-")}
    components = data.get("components")
    if isinstance(components, dict):
        # `postgres:` with nothing after it asks for the component with default options.
        data["components"] = {k: {} if v is None else v for k, v in components.items()}
    _prepare_services(data, spots)

    try:
        spec = StackSpec.model_validate(data)
    except ValidationError as exc:
        raise fail(translate(exc.errors(), StackSpec, (), locator)) from None
    problems = check_stack(spec, data.get("components") or {}, known_components(), locator)
    if problems:
        raise fail(problems)

    base_dir = path.parent
    try:
        state_dir = (base_dir / spec.local.state_dir).resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        message = f"cannot use `{spec.local.state_dir}` as a directory: {exc}"
        raise fail([locator.problem(("local", "state_dir"), message)]) from None
    lines = {dotted(p): s.key.line for p, s in spots.items() if p and not _extension(p)}
    return Stack(
        spec=spec,
        path=path,
        base_dir=base_dir,
        name=spec.name or sanitise_name(base_dir.name) or "stack",
        state_dir=state_dir,
        lines=lines,
    )


def _extension(path: KeyPath) -> bool:
    return isinstance(path[0], str) and path[0].startswith("x-")


def _prepare_services(data: dict[str, Any], spots: dict[KeyPath, Spot]) -> None:
    """Give shorthand forms the paths their long forms have, so errors and `Stack.lines`
    can say `services.web.depends_on.db` whichever way the file wrote it."""
    services = data.get("services")
    if not isinstance(services, dict):
        return
    for name, service in services.items():
        if not isinstance(service, dict):
            continue
        base = ("services", name)
        depends = service.get("depends_on")
        if isinstance(depends, list):
            for i, target in enumerate(depends):
                if isinstance(target, str):
                    _alias(spots, (*base, "depends_on", i), (*base, "depends_on", target))
        env = service.get("env")
        if isinstance(env, dict):
            # Environment values are text: `DEBUG: yes` means "yes" and `VERSION: 1.10` means
            # "1.10", not YAML 1.1's true and 1.1, so keep plain scalars as written.
            for key, value in env.items():
                raw = spots[(*base, "env", key)].raw
                if isinstance(value, int | float) and raw is not None:
                    env[key] = raw
        if isinstance(env, list):
            for i, item in enumerate(env):
                if isinstance(item, str) and "=" in item:
                    key = item.partition("=")[0]
                    _alias(spots, (*base, "env", i), (*base, "env", key))
        if isinstance(service.get("restart"), str | bool):
            _alias(spots, (*base, "restart"), (*base, "restart", "policy"))


def _alias(spots: dict[KeyPath, Spot], written: KeyPath, meant: KeyPath) -> None:
    spot = spots.get(written)
    if spot is not None and meant not in spots:
        spots[meant] = spot
