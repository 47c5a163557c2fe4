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
from leapfrog.spec._volumes import check_volume_paths
from leapfrog.spec._yamlnodes import Locator, Spot, dotted, read_document
from leapfrog.spec._yamlnodes import Path as KeyPath
from leapfrog.spec.errors import Problem, SpecError
from leapfrog.spec.models import StackSpec
from leapfrog.spec.stack import Stack

__all__ = ["MAX_FILE_BYTES", "load_stack", "parse_stack", "read_stack_bytes"]

_MISSING_HINT = "create it, or pass -f FILE"
MAX_FILE_BYTES = 1 << 20
"""A stack file is a page or two of YAML; a bigger one is a mistake (`-f /dev/zero`, a log
file) or an attack, and reading it whole would take the memory it asks for."""
_TOO_BIG_HINT = "check that -f names the stack file; keep large data in files it refers to"


def read_stack_bytes(path: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes of `path`, so a device or a pipe without end is
    cut short like a large file; OSError as `open` and `read` raise it."""
    with path.open("rb") as file:
        return file.read(MAX_FILE_BYTES + 1)


def load_stack(path: Path) -> Stack:
    """Read, validate and check the stack file at `path`."""
    filename = str(path)

    def fail(
        message: str, hint: str, line: int | None = None, column: int | None = None
    ) -> NoReturn:
        problem = Problem(filename, line, column, "(stack)", message, hint)
        raise SpecError([problem]) from None

    try:
        raw = read_stack_bytes(path)
    except FileNotFoundError:
        fail(f"no stack file at {filename}", _MISSING_HINT)
    except IsADirectoryError:
        fail(f"{filename} is a directory", f"pass the file, such as -f {path / 'leapfrog.yaml'}")
    except PermissionError:
        fail(f"cannot read {filename}: permission denied", "check the file's permissions")
    except (OSError, ValueError) as exc:
        fail(f"cannot read {filename}: {getattr(exc, 'strerror', None) or exc}", _MISSING_HINT)
    if len(raw) > MAX_FILE_BYTES:
        fail(f"{filename} is larger than {MAX_FILE_BYTES >> 20} MiB", _TOO_BIG_HINT)
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
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        message = f"{filename} is larger than {MAX_FILE_BYTES >> 20} MiB"
        raise SpecError([Problem(filename, None, None, "(stack)", message, _TOO_BIG_HINT)])
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
    volumes = data.get("volumes")
    if isinstance(volumes, dict):
        # `data:` with nothing after it is a volume with the defaults.
        data["volumes"] = {k: {} if v is None else v for k, v in volumes.items()}
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
    problems = _directories(spec, base_dir, state_dir, locator)
    if problems:
        raise fail(problems)
    lines = {dotted(p): s.key.line for p, s in spots.items() if p and not _extension(p)}
    return Stack(
        spec=spec,
        path=path,
        base_dir=base_dir,
        name=spec.name or sanitise_name(base_dir.name) or "stack",
        state_dir=state_dir,
        lines=lines,
    )


def _directories(
    spec: StackSpec, base_dir: Path, state_dir: Path, locator: Locator
) -> list[Problem]:
    """The directories the file names must be usable: a working_dir must exist (the docs
    promise it), and the state directory must exist or be creatable where it is."""
    problems = []
    for name, service in spec.services.items():
        if service.working_dir is None:
            continue
        where = base_dir / service.working_dir
        if not _is_dir(where):
            at = ("services", name, "working_dir")
            message = f"the working directory {where} does not exist or is not a directory"
            hint = "create it, or give a path relative to the stack file's directory"
            problems.append(locator.problem(at, message, hint, at_value=True))
    problems += check_volume_paths(spec, base_dir, state_dir, locator)
    blocker = _not_a_directory(state_dir)
    if blocker is not None:
        message = f"the state directory {state_dir} cannot be made: {blocker} is not a directory"
        hint = "choose a folder path, such as `.leapfrog` (the default)"
        problems.append(locator.problem(("local", "state_dir"), message, hint, at_value=True))
    return problems


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _not_a_directory(path: Path) -> Path | None:
    """The nearest existing part of `path` when it is not a directory (such as /dev/null for
    /dev/null/state), else None: every missing part below a directory can be created."""
    for part in (path, *path.parents):
        try:
            if not part.exists():
                continue
        except (OSError, ValueError):
            return part
        return None if _is_dir(part) else part
    return None


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
