"""`leapfrog catalog serve` keeps its data and tokens to its owner: ACL on by default with a
generated management token (0600, its path logged, never the token), the data directory
0700 and its files 0600 (also when an older version left them open), and a warning for a
token file other users may read."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import consul
import pytest

from tests.integration.catalog.conftest import CatalogProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

READY = re.compile(r"catalog ready: http=([\d.]+):(\d+)")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_has_acl_on_by_default_with_a_generated_private_token(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "catalog.log"
    argv = [sys.executable, "-m", "leapfrog", "catalog", "serve", "--http", "127.0.0.1:0"]
    argv += ["--dns", "off", "--data-dir", str(data)]
    with open(log, "w") as errors:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        assert proc.stdout is not None
        match = READY.search(proc.stdout.readline())
        assert match, log.read_text()
        port = int(match.group(2))
        token_file = data / "acl-management-token"
        token = token_file.read_text().strip()
        assert mode(token_file) == 0o600 and len(token) == 36
        with pytest.raises(consul.ACLPermissionDenied):
            consul.Consul(port=port).kv.put("k", "v")
        assert consul.Consul(port=port, token=token).kv.put("k", "v")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert f"generated a management token in {token_file} (mode 0600)" in text
    assert token not in text
    assert mode(data) == 0o700
    files = sorted(p.name for p in data.iterdir())
    assert "snapshot.json" in files and "LOCK" in files and any(f.startswith("wal-") for f in files)
    assert {name: mode(data / name) for name in files} == dict.fromkeys(files, 384)


def test_modes_left_open_by_an_older_version_are_closed_on_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with CatalogProcess(data) as proc:
        assert proc.client().kv.put("secret", "hunter2")
    # What an older version left: a world-readable directory and files.
    data.chmod(0o755)
    for path in data.iterdir():
        path.chmod(0o644)
    with CatalogProcess(data) as proc:
        assert proc.client().kv.get("secret")[1]["Value"] == b"hunter2"
        assert mode(data) == 0o700
        assert all(mode(path) == 0o600 for path in data.iterdir())
    assert "was mode 0644: now 0600" in (tmp_path / "catalog.log").read_text()


def test_a_token_file_others_may_read_is_warned_about(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("open-secret\n")
    token_file.chmod(0o644)
    with CatalogProcess(tmp_path / "data", "--acl-token-file", str(token_file)) as proc:
        assert proc.client(token="open-secret").kv.put("k", "v")
    text = (tmp_path / "catalog.log").read_text()
    assert f"{token_file} holds ACL tokens but its mode is 0644" in text
    assert f"chmod 600 {token_file}" in text and "open-secret" not in text


def test_acl_off_is_explicit_and_said(tmp_path: Path) -> None:
    with CatalogProcess(tmp_path / "data", "--acl", "off") as proc:
        assert proc.client().kv.put("k", "v")
    assert "ACL off: every local process may read and write everything" in (
        (tmp_path / "catalog.log").read_text()
    )


def test_contradicting_acl_options_are_a_clear_error(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "leapfrog", "catalog", "serve", "--data-dir", str(tmp_path)]
    argv += ["--acl", "off", "--anonymous-read"]
    result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--acl off leaves nothing for" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_broken_tokens_file_names_the_problem(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tokens": {"lb": {"SecretID": "s", "Rules": {"keys": {}}}}}')
    argv = [sys.executable, "-m", "leapfrog", "catalog", "serve", "--data-dir", str(tmp_path)]
    argv += ["--acl-tokens-file", str(tokens), "--http", "127.0.0.1:0", "--dns", "off"]
    result = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "tokens.lb.Rules: 'keys' is not a rule this catalog knows" in result.stderr
    assert "Traceback" not in result.stderr
