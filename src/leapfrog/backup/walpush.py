"""PostgreSQL's `archive_command` and `restore_command` when the WAL archive is an S3
storage or encrypted: `python -m leapfrog.backup.walpush push|fetch ...`.

    push --config FILE --gaps DIR --max-backlog-mb N  %p %f    (runs in PGDATA)
    fetch --config FILE  %f %p

FILE (`<data dir>/wal-archive.json`, 0600, the instance's user) is written by every
physical backup: the `backups:` options, the state directory and the values of the
secrets they name. Without it there was no base backup yet: `push` keeps nothing
(exit 0), as the directory archive does before its folder exists.

`push` stores the segment as `<store>/wal/<segment>` (atomic: a whole object or none),
encrypted (encryption.py, the segment's name as associated data) when `encryption:` is
set. When the storage fails, the rule of the shell script holds: PostgreSQL keeps the
segment and retries (exit 1) until more than `--max-backlog-mb` of segments wait
(`.ready` files); then the segment is dropped (exit 0), a marker written into `--gaps`
and a WARNING logged, so pg_wal never fills the disk.

`fetch` exits 1 when the segment is not in the archive (how recovery finds the end),
and 126 on any other failure (the storage down, a wrong key), which makes PostgreSQL
abort recovery rather than stop early at the last segment it could read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from leapfrog.backup.encryption import MAGIC, Key, open_sealed, seal
from leapfrog.backup.factory import open_storage
from leapfrog.backup.storage import Storage
from leapfrog.components._postgres_options import PostgresBackupOptions
from leapfrog.shared.named_secrets import FixedSecrets

__all__ = ["main", "write_config"]

_CHUNK = 1 << 20
FETCH_FAILED = 126


def write_config(
    path: Path,
    *,
    options: PostgresBackupOptions,
    state_dir: Path,
    store: str,
    secrets: dict[str, str],
    owner: tuple[int, int] | None,
) -> None:
    """What `push` and `fetch` need, 0600 and owned by the instance's user."""
    body = {
        "options": options.model_dump(mode="json"),
        "state_dir": str(state_dir),
        "prefix": f"{store}/wal/",
        "secrets": secrets,
    }
    temp = path.with_name(f".{path.name}.partial")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(body, out)
    if owner is not None:
        os.chown(temp, *owner)
    os.replace(temp, path)


class _Archive:
    def __init__(self, config: Path) -> None:
        body = json.loads(config.read_text())
        self.options = PostgresBackupOptions.model_validate(body["options"])
        self.prefix: str = body["prefix"]
        self.secrets = FixedSecrets(body["secrets"])
        self.storage: Storage = open_storage(self.options, Path(body["state_dir"]), self.secrets)

    def key(self) -> Key | None:
        name = self.options.encryption
        if name is None:
            return None
        text = self.secrets.get(name)
        if text is None:
            raise RuntimeError(f"the secret {name!r} (encryption:) is not in the archive config")
        return Key.from_secret(name, text)

    def stored(self, segment: str) -> bytes | None:
        """The segment as archived (decrypted), or None when it is not there."""
        key = self.prefix + segment
        if self.storage.keys(key) != [key]:
            return None
        data: Iterator[bytes] = self.storage.get(key)
        head = next(data, b"")
        data = _chain(head, data)
        if head.startswith(MAGIC):
            sealing = self.key()
            if sealing is None:
                raise RuntimeError(
                    f"{key} is encrypted and `encryption:` names no secret to open it with"
                )
            data = open_sealed(sealing, segment, data)
        return b"".join(data)


def _chain(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def _say(message: str) -> None:
    print(f"leapfrog archive: {message}", file=sys.stderr, flush=True)


def push(config: Path, src: Path, segment: str, gaps: Path, max_backlog_mb: int) -> int:
    if not config.exists():
        _say(f"no base backup yet ({config} missing): {segment} not kept")
        return 0
    try:
        archive = _Archive(config)
        where = archive.storage.description
        existing = archive.stored(segment)
        if existing is not None:
            if existing == src.read_bytes():
                return 0
            _say(f"{archive.prefix}{segment} exists in {where} with other content")
            return 1
        chunks = _file_chunks(src)
        sealing = archive.key()
        archive.storage.put(
            archive.prefix + segment, seal(sealing, segment, chunks) if sealing else chunks
        )
        return 0
    except Exception as exc:  # every failure of the storage falls under the backlog rule
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # Segments PostgreSQL still waits to archive (recycled ones do not count).
    status = Path("pg_wal/archive_status")
    ready = len(list(status.glob("*.ready"))) if status.is_dir() else 0
    backlog_kb = ready * src.stat().st_size // 1024
    max_kb = max_backlog_mb * 1024
    if backlog_kb > max_kb:
        with contextlib.suppress(OSError):
            gaps.mkdir(parents=True, exist_ok=True)
            (gaps / segment).touch()
        _say(
            f"WARNING cannot archive ({why}) and {backlog_kb} kB wait in pg_wal "
            f"(limit {max_kb} kB): {segment} dropped; point-in-time restore needs a new "
            "base backup"
        )
        return 0
    _say(f"cannot archive {segment} ({why}); kept in pg_wal ({backlog_kb} kB waiting, "
         f"limit {max_kb} kB)")  # fmt: skip
    return 1


def fetch(config: Path, segment: str, dest: Path) -> int:
    try:
        archive = _Archive(config)
        data = archive.stored(segment)
    except Exception as exc:  # recovery must stop, not go on as if the archive ended
        _say(f"cannot fetch {segment}: {exc}")
        return FETCH_FAILED
    if data is None:
        return 1
    temp = dest.with_name(f".{dest.name}.fetching")
    temp.write_bytes(data)
    os.replace(temp, dest)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leapfrog.backup.walpush")
    actions = parser.add_subparsers(dest="action", required=True)
    push_args = actions.add_parser("push", help="archive_command: push %%p %%f")
    push_args.add_argument("--config", type=Path, required=True)
    push_args.add_argument("--gaps", type=Path, required=True)
    push_args.add_argument("--max-backlog-mb", type=int, required=True)
    push_args.add_argument("path", type=Path)
    push_args.add_argument("segment")
    fetch_args = actions.add_parser("fetch", help="restore_command: fetch %%f %%p")
    fetch_args.add_argument("--config", type=Path, required=True)
    fetch_args.add_argument("segment")
    fetch_args.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if args.action == "push":
        return push(args.config, args.path, args.segment, args.gaps, args.max_backlog_mb)
    return fetch(args.config, args.segment, args.path)


if __name__ == "__main__":
    sys.exit(main())
