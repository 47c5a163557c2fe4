"""The lightkube classes of the operator's kinds, shared by the operator and the CLI's
Kubernetes target."""

from __future__ import annotations

import functools
from typing import Any

from leapfrog.components._backups_kube import GROUP, PLURALS, VERSION

__all__ = ["resource"]


@functools.cache
def resource(kind: str) -> Any:
    """The lightkube class of BackupSchedule, Backup or Restore (also registers it, so
    `from_dict` knows it)."""
    from lightkube.generic_resource import create_namespaced_resource

    return create_namespaced_resource(GROUP, VERSION, kind, PLURALS[kind])
