"""`${NAME}` substitution in command arguments, with `$$` for a literal dollar."""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["UnknownVariable", "substitute"]

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UnknownVariable(KeyError):
    """A `${NAME}` whose NAME the environment does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def substitute(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "$"
        try:
            return env[name]
        except KeyError:
            raise UnknownVariable(name) from None

    return _VAR.sub(replace, text)
