"""`leapfrog backup` on a real stack whose backups go to S3, encrypted, as a user sets it
up: credentials and the key as named secrets (`leapfrog secrets --set`, from stdin),
only their names in the stack file."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from leapfrog.testing import StackDir
from tests.s3_server import S3_ACCESS, S3_BUCKET, S3_SECRET, S3Server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def stack_text(endpoint: str) -> str:
    return f"""\
name: backup-cli-s3
local: {{addresses: 127.0.63.0/24}}
components:
  zookeeper:
    backups:
      storage: s3://{S3_BUCKET}/cli
      s3: {{endpoint: "{endpoint}", access_key_secret: s3-access, secret_key_secret: s3-secret}}
      encryption: zk-key
"""


def set_secret(stack: StackDir, name: str, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leapfrog", "secrets", "--set", name],
        cwd=stack.root,
        input=value,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert value not in done.stdout + done.stderr


def test_backup_to_s3_encrypted_from_the_cli(s3_server: S3Server) -> None:
    with StackDir(stack_text(s3_server.endpoint), catalog=False) as stack:
        missing = stack.cli("backup", "run", "--json")
        assert missing.code == 1 and "secret 's3-access'" in missing.output
        assert "leapfrog secrets --set s3-access" in missing.output
        assert "Traceback" not in missing.output
        set_secret(stack, "s3-access", S3_ACCESS)
        set_secret(stack, "s3-secret", S3_SECRET)
        assert stack.up("-d", timeout=180).code == 0

        run = stack.cli("backup", "run", "--json")
        assert run.code == 0, run.output
        backup_id = json.loads(run.stdout)["backup"]
        listed = s3_server.client().list_objects_v2(Bucket=S3_BUCKET, Prefix="cli/")
        keys = [item["Key"] for item in listed.get("Contents", [])]
        assert f"cli/zookeeper/backups/{backup_id}/manifest.json" in keys
        named = json.loads(stack.cli("secrets", "--json", "--show-secrets").stdout)["named"]
        assert set(named) == {"s3-access", "s3-secret", "zk-key"}  # the key was generated

        verify = stack.cli("backup", "verify", "--json")
        assert verify.code == 0, verify.output
        listing = json.loads(stack.cli("backup", "list", "--json").stdout)
        assert listing["backups"][-1]["id"] == backup_id
        assert listing["backups"][-1]["verified"] == "succeeded"

        s3_server.stop()
        try:
            down = stack.cli("backup", "list")
        finally:
            s3_server.start()
        assert down.code == 1 and "is not answering" in down.output
        assert "Traceback" not in down.output
