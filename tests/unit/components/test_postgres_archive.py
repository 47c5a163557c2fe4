"""WAL archiving set up by the postgres component when `backups:` is declared, and the
archive script's rules run with /bin/sh on a fake data directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

from leapfrog.components.base import Installation, Instance
from leapfrog.components.postgres import Postgres

INSTALLATION = Installation("15.18", Path("/usr/lib/postgresql/15"), {"bin": "/x/bin"})


def where(tmp_path: Path) -> Instance:
    return Instance(
        "postgres",
        "postgres-1",
        "127.0.0.9",
        5433,
        tmp_path / "state" / "data" / "postgres-1",
        tmp_path / "secrets",
        tmp_path / "cache",
    )


def settings(argv: tuple[str, ...]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_no_archiving_without_backups(tmp_path: Path) -> None:
    proc = Postgres().process(Postgres().options({}), INSTALLATION, where(tmp_path))
    assert "archive_mode" not in settings(proc.argv)
    assert "conf/archive-wal.sh" not in proc.files
    assert "local  replication  postgres  peer map=leapfrog" in proc.files["conf/pg_hba.conf"]


def test_backups_turn_archiving_on_into_the_state_dir(tmp_path: Path) -> None:
    comp = Postgres()
    proc = comp.process(comp.options({"backups": {}}), INSTALLATION, where(tmp_path))
    found = settings(proc.argv)
    assert found["archive_mode"] == "on" and found["archive_timeout"] == "60"
    assert found["archive_command"].endswith("conf/archive-wal.sh %p %f")
    script = proc.files["conf/archive-wal.sh"]
    assert f"archive={tmp_path}/state/backups/postgres/wal;" in script


def run_script(tmp_path: Path, archive: Path, name: str, content: bytes) -> int:
    comp = Postgres()
    instance = where(tmp_path)
    proc = comp.process(
        comp.options({"backups": {"storage": str(archive.parent.parent)}}), INSTALLATION, instance
    )
    pgdata = instance.data_dir / "pgdata"
    (pgdata / "pg_wal" / "archive_status").mkdir(parents=True, exist_ok=True)
    (pgdata / "pg_wal" / name).write_bytes(content)
    script = tmp_path / "archive-wal.sh"
    script.write_text(proc.files["conf/archive-wal.sh"])
    return subprocess.run(
        ["/bin/sh", str(script), f"pg_wal/{name}", name], cwd=pgdata, check=False
    ).returncode


def test_the_script_copies_refuses_other_content_and_keeps_nothing_before_a_backup(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "storage" / "postgres" / "wal"
    segment = "000000010000000000000003"
    assert run_script(tmp_path, archive, segment, b"wal") == 0  # no backup yet: not kept
    assert not archive.exists()
    archive.mkdir(parents=True)
    assert run_script(tmp_path, archive, segment, b"wal") == 0
    assert (archive / segment).read_bytes() == b"wal"
    assert run_script(tmp_path, archive, segment, b"wal") == 0  # again: same content is fine
    assert run_script(tmp_path, archive, segment, b"other") == 1
    assert (archive / segment).read_bytes() == b"wal"
    assert [p.name for p in archive.iterdir()] == [segment]
