"""Which intentions a stack file declares (`leapfrog.spec.declared_pairs`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from leapfrog.runtime.local.intentions import IntentionChanges
from leapfrog.spec import declared_pairs, parse_stack


def test_declared_pairs_come_from_the_callers(tmp_path: Path) -> None:
    text = textwrap.dedent("""\
        identity: true
        services:
          api: {command: x, allow_from: [cron]}
          db: {command: x, callers: [api]}
          web: {command: x, depends_on: [api]}
          cron: {command: x}
        """)
    stack = parse_stack(text, "leapfrog.yaml", tmp_path)
    assert declared_pairs(stack.spec) == [("cron", "api"), ("web", "api"), ("api", "db")]


def test_no_change_says_nothing() -> None:
    assert IntentionChanges().summary() == []
    changes = IntentionChanges(allowed=["a => b"], removed=["c => b"], kept=["d => b"])
    assert changes.summary() == [
        "allow a => b",
        "remove c => b",
        "d => b: an intention not made by leapfrog stays in force",
    ]
