"""PostgreSQL passwords: stored privately, generated once, quoted in URLs, sent as SCRAM."""

from __future__ import annotations

import stat
from pathlib import Path

import psycopg
import pytest

from leapfrog.components._postgres_secrets import (
    connection_url,
    password,
    password_file,
    scram_matches,
    scram_verifier,
)
from leapfrog.components.base import Instance


def where(tmp_path: Path) -> Instance:
    return Instance(
        name="postgres",
        instance="postgres-1",
        address="127.0.0.9",
        port=5432,
        data_dir=tmp_path / "data",
        secrets_dir=tmp_path / "secrets",
        cache_dir=tmp_path / "cache",
    )


def test_a_password_is_generated_once_into_a_private_file(tmp_path: Path) -> None:
    instance = where(tmp_path)
    first = password(instance, "app")
    assert len(first) >= 24
    assert password(instance, "app") == first
    assert password(instance, "other") != first
    path = password_file(instance, "app")
    assert path.parent == instance.secrets_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(instance.secrets_dir.stat().st_mode) == 0o700
    assert path.read_text().strip() == first


def test_a_stored_password_is_kept(tmp_path: Path) -> None:
    instance = where(tmp_path)
    path = password_file(instance, "app")
    path.parent.mkdir(parents=True)
    path.write_text("chosen-by-hand\n")
    assert password(instance, "app") == "chosen-by-hand"


@pytest.mark.parametrize("secret", ["p@ss:w/rd?#%", "a b&c=d", "ünï/cødé", "plain"])
def test_urls_quote_passwords_so_clients_read_them_back(secret: str) -> None:
    url = connection_url("app", secret, "127.0.0.9", 5432, "orders")
    assert url.startswith("postgresql://app:") and url.endswith("@127.0.0.9:5432/orders")
    parsed = psycopg.conninfo.conninfo_to_dict(url)
    assert parsed["password"] == secret
    assert (parsed["user"], parsed["host"], parsed["dbname"]) == ("app", "127.0.0.9", "orders")


def test_a_scram_verifier_matches_its_password_only() -> None:
    verifier = scram_verifier("s3cret")
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert scram_matches(verifier, "s3cret")
    assert not scram_matches(verifier, "other")
    assert scram_verifier("s3cret") != verifier  # a fresh salt each time
    assert "s3cret" not in verifier


def test_a_fixed_salt_gives_a_fixed_verifier() -> None:
    salt = bytes(range(16))
    assert scram_verifier("pw", salt) == scram_verifier("pw", salt)


@pytest.mark.parametrize(
    "stored", [None, "", "md5abc", "SCRAM-SHA-256$x", "SCRAM-SHA-256$1:!!$a:b"]
)
def test_anything_but_a_scram_verifier_does_not_match(stored: str | None) -> None:
    assert not scram_matches(stored, "pw")
