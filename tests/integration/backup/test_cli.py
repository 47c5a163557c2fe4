"""`leapfrog backup` on a real stack, as a user runs it: run, list, verify, a refused
restore without --yes, restore after `down`, prune; errors without tracebacks."""

from __future__ import annotations

import json

import psycopg
import pytest

from leapfrog.testing import StackDir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

STACK = """\
name: backup-cli
local: {addresses: 127.0.61.0/24}
components:
  postgres:
    databases: {shop: {}}
    backups: {archive_timeout: 0, keep_last: 1}
"""


def test_backup_commands_on_a_running_stack() -> None:
    with StackDir(STACK, catalog=False) as stack:
        assert stack.up("-d", timeout=180).code == 0
        env = json.loads(stack.cli("secrets", "--json", "--show-secrets").stdout)
        secret = env["postgres-1"]["postgres"]
        address = stack.instance("postgres-1")["address"]
        url = f"host={address} port=5432 user=postgres password={secret} dbname=shop"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t AS SELECT generate_series(1, 1000) AS n")

        first = stack.cli("backup", "run", "--json")
        assert first.code == 0, first.output
        backup_id = json.loads(first.stdout)["backup"]
        assert stack.cli("backup", "run", "postgres", "--json").code == 0

        verify = stack.cli("backup", "verify", "--json")
        assert verify.code == 0, verify.output
        assert json.loads(verify.stdout)["state"] == "succeeded"

        listing = json.loads(stack.cli("backup", "list", "--json").stdout)
        assert listing["backups"][0]["id"] == backup_id
        assert listing["backups"][-1]["verified"] == "succeeded"
        assert any(note.startswith("WAL archive:") for note in listing["notes"])
        text = stack.cli("backup", "list").stdout
        assert backup_id in text and "runs (newest last)" in text

        refused = stack.cli("backup", "restore")
        assert refused.code != 0 and "--yes" in refused.output
        assert "Traceback" not in refused.output
        running = stack.cli("backup", "restore", "--yes")
        assert running.code == 1 and "stop it first" in running.output

        assert stack.down().code == 0
        restored = stack.cli("backup", "restore", "--yes", "--json")
        assert restored.code == 0, restored.output
        assert stack.up("-d", timeout=180).code == 0
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)

        pruned = stack.cli("backup", "prune", "--json")
        assert pruned.code == 0, pruned.output
        listing = json.loads(stack.cli("backup", "list", "--json").stdout)
        assert len(listing["backups"]) == 1  # keep_last: 1

        # Choosing: a logical backup of `shop` alone, recorded, listed, restored alone.
        chosen = stack.cli("backup", "run", "--mode", "logical", "--database", "shop", "--json")
        assert chosen.code == 0, chosen.output
        chosen_id = json.loads(chosen.stdout)["backup"]
        listing = json.loads(stack.cli("backup", "list", "--json").stdout)
        assert [b["chosen"] for b in listing["backups"] if b["id"] == chosen_id] == [["shop"]]
        assert "CHOSEN" in stack.cli("backup", "list").stdout
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE t")
        asked = stack.cli("backup", "restore", "--backup", chosen_id, "--database", "shop")
        assert asked.code != 0 and "replaces databases shop on postgres-1" in asked.output
        restored = stack.cli(
            "backup", "restore", "--backup", chosen_id, "--database", "shop", "--yes", "--json"
        )
        assert restored.code == 0, restored.output
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM t").fetchone() == (1000,)
        nosuch = stack.cli("backup", "run", "--mode", "logical", "--database", "nosuch")
        assert nosuch.code == 1
        assert "has no database nosuch; its databases: postgres, shop" in nosuch.output
        wrong = stack.cli("backup", "run", "--topic", "orders")
        assert wrong.code == 1 and "has no topic to choose" in wrong.output
        assert "--database" in wrong.output and "Traceback" not in wrong.output
        whole = stack.cli("backup", "run", "--database", "shop")
        assert whole.code == 1 and "use --mode logical" in whole.output

        unknown = stack.cli("backup", "run", "nosuch")
        assert unknown.code != 0 and "not a component of this stack" in unknown.output
        assert "Traceback" not in unknown.output
        bad_time = stack.cli("backup", "restore", "--to", "yesterday", "--yes")
        assert bad_time.code == 2 and "is not a timestamp" in bad_time.output


INFLUX_STACK = """\
name: backup-cli-influx
local: {addresses: 127.0.62.0/24}
components:
  influxdb:
    databases: {metrics: {}, other: {}}
    backups: {databases: [metrics]}
"""


def test_what_a_run_holds_comes_from_the_flag_or_the_stack_file() -> None:
    with StackDir(INFLUX_STACK, catalog=False) as stack:
        assert stack.up("-d", timeout=180).code == 0
        declared = stack.cli("backup", "run", "--json")  # the stack file's `databases`
        assert declared.code == 0, declared.output
        flagged = stack.cli("backup", "run", "--database", "oth*", "--json")
        assert flagged.code == 0, flagged.output
        listing = json.loads(stack.cli("backup", "list", "--json").stdout)
        assert [b["chosen"] for b in listing["backups"]] == [["metrics"], ["oth*"]]
        assert [b["position"]["databases"] for b in listing["backups"]] == ["metrics", "other"]

        refused = stack.cli("backup", "restore", "--database", "metrics")  # from `other`'s
        assert refused.code == 1
        assert "has no database metrics; its databases: other" in refused.output
        first = listing["backups"][0]["id"]
        # `metrics` has no point yet: influxd restores it but exits 1; still a success.
        verified = stack.cli("backup", "verify", "--backup", first, "--json")
        assert verified.code == 0, verified.output
        asked = stack.cli("backup", "restore", "--backup", first)
        assert asked.code != 0 and "replaces databases metrics on influxdb-1" in asked.output
        restored = stack.cli("backup", "restore", "--backup", first, "--yes", "--json")
        assert restored.code == 0, restored.output
        assert "databases metrics restored" in json.loads(restored.stdout)["reason"]

        wrong = stack.cli("backup", "run", "--index", "logs-*")
        assert wrong.code == 1 and "choose with --database" in wrong.output
        assert "Traceback" not in wrong.output
