"""Running CNI plugins (github.com/containernetworking/cni, SPEC.md): the command and
the container in environment variables, the network configuration as JSON on stdin,
the result or an error as JSON on stdout.

No Python library for the protocol is kept up; this is the small part leapfrog needs
(ADD and DEL of one plugin) for the plugins Debian ships in containernetworking-plugins.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from leapfrog.runtime.local.network.base import NetworkError

__all__ = ["CNI_VERSION", "PLUGIN_DIRS", "plugin_dir", "run_plugin"]

CNI_VERSION = "1.0.0"
PLUGIN_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
"""Where Debian's package puts the plugins, then where upstream's tarball does."""
_TIMEOUT = 30.0


def plugin_dir(*needed: str) -> Path | None:
    """The first directory with every plugin in `needed`."""
    for folder in PLUGIN_DIRS:
        if all(os.access(folder / name, os.X_OK) for name in needed):
            return folder
    return None


def run_plugin(
    command: str,
    config: Mapping[str, Any],
    *,
    container_id: str,
    netns: Path,
    ifname: str,
    path: Path,
) -> dict[str, Any]:
    """Run the plugin `config["type"]` for `command` (ADD, DEL, CHECK); its result.

    Raises NetworkError with the plugin's own message (its `msg` and `details`)."""
    plugin = path / str(config["type"])
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": str(netns),
        "CNI_IFNAME": ifname,
        "CNI_PATH": str(path),
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    try:
        done = subprocess.run(
            [str(plugin)],
            input=json.dumps(dict(config)).encode(),
            env=env,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetworkError(f"CNI plugin {plugin} ({command}) failed: {exc}") from None
    out = done.stdout.decode(errors="replace").strip()
    try:
        answer = json.loads(out) if out else {}
    except ValueError:
        answer = {"msg": out}
    if done.returncode != 0 or (isinstance(answer, dict) and "code" in answer):
        words = answer.get("msg", "") if isinstance(answer, dict) else out
        details = answer.get("details", "") if isinstance(answer, dict) else ""
        err = done.stderr.decode(errors="replace").strip()
        text = "; ".join(x for x in (str(words), str(details), err) if x) or "no message"
        raise NetworkError(f"CNI plugin {config['type']} {command} for {container_id}: {text}")
    return answer if isinstance(answer, dict) else {}
