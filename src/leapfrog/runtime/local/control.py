"""The supervisor's control socket, the client's side: JSON lines over a Unix socket only
its owner can open (the server is `control_server.py`; this side loads no asyncio, which
every command that talks to a running stack would pay for at its start).

Requests are one line `{"op": ...}`. `status` answers one snapshot; `watch` streams a
snapshot after every change; `down` streams snapshots while stopping and closes when
everything is down; `restart` answers the restarted instance names; `apply` takes a
changed stack file and answers what will change (the changes go on in the background).
`contexts` and `scale` are the day-2 operations of `day2.py`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from leapfrog.shared.errors import LeapfrogError

__all__ = ["request", "stream"]


def _connect(path: Path, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


def stream(path: Path, message: dict[str, Any], timeout: float | None = None) -> Iterator[Any]:
    """Send one request and yield each answer line as it arrives. Raises OSError if no server."""
    sock = _connect(path, 5.0)
    sock.settimeout(timeout)
    try:
        sock.sendall(json.dumps(message).encode() + b"\n")
        with sock.makefile("rb") as lines:
            for line in lines:
                yield json.loads(line)
    finally:
        sock.close()


def request(path: Path, message: dict[str, Any], timeout: float = 30.0) -> Any:
    for answer in stream(path, message, timeout):
        if isinstance(answer, dict) and "error" in answer:
            raise LeapfrogError(str(answer["error"]), answer.get("hint"))
        return answer
    raise LeapfrogError("the supervisor closed the connection without answering")
