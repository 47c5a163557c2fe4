"""A scratch directory the app user can enter, removed when the test is done with it."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["scratch_dir"]


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A fresh directory under /tmp with mode 0755, removed with everything in it on exit.

    pytest's own `tmp_path` is 0700 under root's folder, which the unprivileged user that
    runs services and components cannot enter; servers' data directories go here instead.
    """
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
