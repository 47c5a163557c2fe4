"""Where downloads shared by every stack live: jars, npm packages, tools.

Outside any repository, and readable by the unprivileged app user that runs the
programs when leapfrog runs as root (root's home is not), hence /var/cache for root.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """$LEAPFROG_CACHE, else /var/cache/leapfrog for root, else ~/.cache/leapfrog."""
    configured = os.environ.get("LEAPFROG_CACHE")
    if configured:
        path = Path(configured)
    elif os.geteuid() == 0:
        path = Path("/var/cache/leapfrog")
    else:
        path = Path.home() / ".cache" / "leapfrog"
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        path.chmod(0o755)
    return path
