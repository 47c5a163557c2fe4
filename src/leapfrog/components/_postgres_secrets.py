"""PostgreSQL passwords: generated once, kept in the stack's secrets folder (mode 0600),
sent to the server only as SCRAM verifiers, and quoted when put in a URL."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from urllib.parse import quote

from leapfrog.components.base import Instance

__all__ = ["connection_url", "password", "password_file", "scram_matches", "scram_verifier"]

_ITERATIONS = 4096  # PostgreSQL's own default for scram_iterations


def password_file(where: Instance, role: str) -> Path:
    return where.secrets_dir / f"{where.instance}.{role}.password"


def password(where: Instance, role: str) -> str:
    """The role's password, generated and stored (0600) on first use."""
    path = password_file(where, role)
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    generated = secrets.token_urlsafe(24)
    try:
        # O_EXCL: when two callers race, the first one's password is the password.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(generated + "\n")
    return generated


def connection_url(role: str, secret: str, host: str, port: int, database: str) -> str:
    user = quote(role, safe="")
    return f"postgresql://{user}:{quote(secret, safe='')}@{host}:{port}/{quote(database, safe='')}"


def _keys(secret: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return stored_key, server_key


def scram_verifier(secret: str, salt: bytes | None = None) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802/7677); setting this
    instead of the plain password keeps the password out of server logs and statements."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    stored_key, server_key = _keys(secret, salt, _ITERATIONS)
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def scram_matches(verifier: str | None, secret: str) -> bool:
    """Whether a stored verifier is the one for `secret`: then setup leaves it alone."""
    try:
        method, rest = (verifier or "").split("$", 1)
        params, keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        stored, server = keys.split(":", 1)
        expected = _keys(secret, base64.b64decode(salt), int(iterations))
        actual = (base64.b64decode(stored), base64.b64decode(server))
    except ValueError:  # binascii.Error is one too
        return False
    return method == "SCRAM-SHA-256" and hmac.compare_digest(b"".join(expected), b"".join(actual))
