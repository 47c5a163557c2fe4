"""`running_state_paths`: the state dir a running stack's commands (`scale`) find without
loading the stack's models is the one `state_paths` finds by loading them."""

from __future__ import annotations

from pathlib import Path

import click

from leapfrog.cli.options import running_state_paths, state_paths


def _ctx() -> click.Context:
    return click.Context(click.Command("x"), obj={})


def test_the_fast_path_agrees_with_loading_the_stack(tmp_path: Path) -> None:
    stack = tmp_path / "leapfrog.yaml"
    stack.write_text("catalog: {enabled: false}\nservices:\n  a: {command: sleep 1}\n")
    loaded = state_paths(_ctx(), stack)
    # Not running yet (no state file): the full load.
    assert running_state_paths(_ctx(), stack).root == loaded.root
    loaded.root.mkdir(parents=True)
    loaded.state_file.parent.mkdir(parents=True, exist_ok=True)
    loaded.state_file.write_text("{}")
    assert running_state_paths(_ctx(), stack).root == loaded.root
    # A state_dir of its own: found by loading the stack, as `state_paths` does.
    stack.write_text(stack.read_text() + "local: {state_dir: elsewhere}\n")
    assert running_state_paths(_ctx(), stack).root == tmp_path / "elsewhere"
