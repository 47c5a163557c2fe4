"""A command's start made cheaper: the collector paused while loading, and pydantic's
plugin scan skipped when plugins are off, with models that still validate and collect."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys

import pytest

from leapfrog.shared.loading import collector_paused


def test_the_collector_is_off_in_the_block_and_as_it_was_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():  # nested: the inner block does not turn it back on
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_comes_back_after_an_error() -> None:
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


_MODEL = """
import json, sys
from leapfrog.shared.loading import skip_pydantic_plugin_scan
skip_pydantic_plugin_scan()
from pydantic import BaseModel, ValidationError
class Port(BaseModel):
    port: int
ok = Port.model_validate({"port": 80}).port
try:
    Port.model_validate({"port": "x"})
    rejected = False
except ValidationError:
    rejected = True
print(json.dumps([ok, rejected, "importlib.metadata" in sys.modules]))
"""


def _run_model(plugins: str) -> list[object]:
    env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": plugins}
    out = subprocess.run(
        [sys.executable, "-c", _MODEL], env=env, capture_output=True, text=True, check=True
    ).stdout
    result: list[object] = json.loads(out)
    return result


def test_models_validate_without_the_plugin_scan() -> None:
    """The scan imports importlib.metadata (and email, zipfile, csv) even when plugins are
    off; skipped, a model still validates and rejects. Fails when pydantic scans for
    plugins some other way (then the skip is dead code to remove)."""
    assert _run_model("__all__") == [80, True, False]


def test_the_skip_leaves_a_loader_already_loaded_alone() -> None:
    code = (
        "import sys\n"
        "import pydantic.plugin._loader as real\n"
        "from leapfrog.shared.loading import skip_pydantic_plugin_scan\n"
        "skip_pydantic_plugin_scan()\n"
        "print(sys.modules['pydantic.plugin._loader'] is real)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
