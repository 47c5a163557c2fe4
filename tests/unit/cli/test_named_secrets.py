"""`leapfrog secrets --set NAME`: the value comes from standard input, lands 0600 in the
state directory, is listed under `named` and never appears on the command line."""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from leapfrog.cli.app import cli


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    """A folder the stack's service user may enter (pytest's own is 0700)."""
    made = Path(tempfile.mkdtemp(prefix="lf-secrets-"))
    made.chmod(0o755)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_set_and_list_a_named_secret(stack_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_path = stack_dir
    monkeypatch.chdir(tmp_path)
    (tmp_path / "leapfrog.yaml").write_text(
        "services:\n  web:\n    command: sleep 1\ncatalog: {enabled: false}\n"
    )
    runner = CliRunner()
    done = runner.invoke(cli, ["secrets", "--set", "s3-secret"], input="s3cr3t-value\n")
    assert done.exit_code == 0, done.output
    assert "s3cr3t-value" not in done.output
    path = tmp_path / ".leapfrog" / "secrets" / "named" / "s3-secret"
    assert path.read_text() == "s3cr3t-value\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = runner.invoke(cli, ["secrets", "--json", "--show-secrets"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["named"] == {"s3-secret": "s3cr3t-value"}

    empty = runner.invoke(cli, ["secrets", "--set", "other"], input="")
    assert empty.exit_code == 2 and "no value for other" in empty.output
    bad = runner.invoke(cli, ["secrets", "--set", "../escape"], input="x\n")
    assert bad.exit_code != 0 and "is no secret name" in str(bad.exception)
    assert not (tmp_path / ".leapfrog" / "secrets" / "escape").exists()
