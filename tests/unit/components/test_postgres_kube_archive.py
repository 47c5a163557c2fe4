"""Which `backups:` make a PostgreSQL on Kubernetes archive its WAL (physical backups),
what the render then adds to its StatefulSet, and the stacks it refuses."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from leapfrog.components._postgres_kube_archive import hba_rules, physical_on_kube
from leapfrog.components._postgres_options import PostgresBackupOptions
from leapfrog.components.base import NotSupported
from leapfrog.components.kube import KubeContext
from leapfrog.components.postgres import Postgres


def options(**given: Any) -> PostgresBackupOptions:
    return PostgresBackupOptions.model_validate(given)


def test_physical_by_default_into_a_claim_and_logical_where_the_server_cannot_archive() -> None:
    assert physical_on_kube(options()) is True
    assert physical_on_kube(options(storage="/srv/backups")) is True
    assert physical_on_kube(options(mode="logical")) is False
    assert physical_on_kube(None) is False
    # not written: logical there, as before
    assert physical_on_kube(options(storage="s3://bucket/pg")) is False
    assert physical_on_kube(options(encryption="pg-key")) is False
    assert physical_on_kube(options(wal_archive=False)) is False


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ({"storage": "s3://bucket/pg"}, "an S3 storage"),
        ({"encryption": "pg-key"}, "encryption"),
        ({"wal_archive": False}, "wal_archive: false"),
    ],
)
def test_physical_written_where_the_server_cannot_archive_is_refused(
    given: dict[str, Any], why: str
) -> None:
    with pytest.raises(NotSupported) as caught:
        physical_on_kube(options(mode="physical", **given))
    assert f"these `backups:` have {why}. Use `mode: logical`" in str(caught.value)


def render(**backups: Any) -> list[Any]:
    comp = Postgres()
    given = {"databases": {"shop": {}}, "backups": backups}
    return list(comp.render_kubernetes(comp.options(given), KubeContext("ns", "s")).objects)


def test_the_render_archives_only_for_physical_backups() -> None:
    objects = render()
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    (server,) = sts["spec"]["template"]["spec"]["containers"]
    assert "-carchive_mode=on" in server["args"]
    assert "-chba_file=/etc/leapfrog/pg_hba.conf" in server["args"]
    names = {v["name"] for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert {"wal-archive", "backups"} <= names
    without = Postgres().render_kubernetes(Postgres().options({}), KubeContext("ns", "s"))
    for logical in (render(mode="logical"), render(storage="s3://bucket/pg"), without.objects):
        sts = next(o for o in logical if o["kind"] == "StatefulSet")
        (server,) = sts["spec"]["template"]["spec"]["containers"]
        assert not any("archive" in arg or "hba_file" in arg for arg in server["args"])
        assert not any(o["kind"] == "ConfigMap" for o in logical)


def test_the_rules_admit_the_superusers_replication_login_and_keep_the_images_own() -> None:
    rules = hba_rules(17)
    assert rules.endswith("host  all  all  all  scram-sha-256\n"
                          "host  replication  postgres  all  scram-sha-256\n")  # fmt: skip
    assert "host  replication  postgres  all  md5" in hba_rules(13)
    assert "trust" not in "".join(line for line in rules.splitlines() if " all  all  all" in line)


def test_the_archive_script_keeps_nothing_before_the_first_backup(tmp_path: Path) -> None:
    """The rendered script as the server runs it: no archive folder yet, exit 0 and
    nothing kept; once the folder exists, the segment is copied there."""
    objects = render()
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    script = config["data"]["archive-wal.sh"].replace("/backups", str(tmp_path / "claim"))
    script = script.replace("/var/lib/postgresql/data", str(tmp_path / "data"))
    (tmp_path / "archive-wal.sh").write_text(script)
    pgdata = tmp_path / "data" / "pgdata"
    (pgdata / "pg_wal" / "archive_status").mkdir(parents=True)
    segment = pgdata / "pg_wal" / "000000010000000000000001"
    segment.write_bytes(b"wal" * 100)
    argv = ["/bin/sh", str(tmp_path / "archive-wal.sh"), "pg_wal/000000010000000000000001",
            "000000010000000000000001"]  # fmt: skip
    first = subprocess.run(argv, cwd=pgdata, capture_output=True, text=True, check=False)
    assert first.returncode == 0 and "no base backup yet" in first.stderr
    archive = tmp_path / "claim" / "postgres" / "wal"
    archive.mkdir(parents=True)
    kept = subprocess.run(argv, cwd=pgdata, capture_output=True, text=True, check=False)
    assert kept.returncode == 0, kept.stderr
    assert (archive / "000000010000000000000001").read_bytes() == segment.read_bytes()
