"""Entering a network namespace on the calling thread (setns(2); os.setns is Python 3.12+)."""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["in_namespace", "join_namespace"]

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def join_namespace(path: Path) -> None:
    """This thread into the network namespace at `path`, for the rest of its life."""
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
    finally:
        os.close(target)


@contextlib.contextmanager
def in_namespace(path: Path) -> Iterator[None]:
    """This thread in the network namespace at `path` meanwhile, back in its own after.

    Only the calling thread moves; a child forked meanwhile keeps the namespace."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        join_namespace(path)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)
