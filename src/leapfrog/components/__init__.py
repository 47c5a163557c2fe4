"""Platform components (kafka, postgres, ...) that a stack file can ask for by name.

Each component registers here, under the key used in the stack file's `components:`
section, together with the pydantic model of its options; the spec loader asks this
registry whether a component exists and validates its options with that model. This
version ships none yet: components are added as later work implements them.
"""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["known_components"]


def known_components() -> dict[str, type[BaseModel]]:
    """Component kinds by stack-file name, each with the model of its options."""
    return {}
