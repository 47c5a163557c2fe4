"""Named secrets the stack file refers to by name (S3 credentials, encryption keys).

Each is one file `<state dir>/secrets/named/<name>`, mode 0600 in a 0700 folder, set by
`leapfrog secrets --set NAME` (the value read from standard input, never from the
command line) or generated (an encryption key). The stack file holds only names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from leapfrog.shared.errors import LeapfrogError

__all__ = ["FixedSecrets", "NamedSecrets", "SecretSource", "named_secrets"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SecretSource(Protocol):
    def get(self, name: str) -> str | None: ...

    def set(self, name: str, value: str) -> None: ...


class FixedSecrets:
    """Secrets handed over as values (a helper process given them in a 0600 file)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        raise LeapfrogError(f"secret {name!r} cannot be set here")


def named_secrets(state_dir: Path) -> NamedSecrets:
    """The named secrets of the stack whose state directory is `state_dir`."""
    return NamedSecrets(state_dir / "secrets" / "named")


class NamedSecrets:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise LeapfrogError(
                f"{name!r} is no secret name",
                hint="letters, digits, `_`, `.`, `-`; at most 64, starting with a letter or digit",
            )
        return self.root / name

    def get(self, name: str) -> str | None:
        try:
            return self._path(name).read_text().strip() or None
        except FileNotFoundError:
            return None

    def set(self, name: str, value: str) -> None:
        """Written to a temporary name, 0600 from the start, then renamed."""
        path = self._path(name)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)
        temp = path.with_name(f".{name}.partial")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value.strip() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _NAME.fullmatch(p.name))
