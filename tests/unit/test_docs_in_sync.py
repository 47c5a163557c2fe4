"""docs/stack-file.md and docs/stack.schema.json are what scripts/gen_docs.py writes today.

When a test here fails after a change to the models or the schema, run
`python scripts/gen_docs.py` and commit the regenerated files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from leapfrog.spec import load_stack, models, parse_stack

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_docs.py"
REFERENCE = ROOT / "docs" / "stack-file.md"
SCHEMA = ROOT / "docs" / "stack.schema.json"
EXAMPLE = ROOT / "examples" / "leapfrog.yaml"


@pytest.fixture(scope="module")
def gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _model_classes() -> list[type[BaseModel]]:
    return [
        value
        for name, value in vars(models).items()
        if not name.startswith("_")
        and isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == models.__name__
    ]


def test_generated_files_are_current(gen_docs: ModuleType) -> None:
    stale = [str(p) for p in gen_docs.stale()]
    assert stale == [], f"out of date: {', '.join(stale)}; run: python scripts/gen_docs.py"
    assert gen_docs.main(["--check"]) == 0


def test_check_mode_names_stale_files(
    gen_docs: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "stack.schema.json").write_text(SCHEMA.read_text(encoding="utf-8"))
    (tmp_path / "docs" / "stack-file.md").write_text("old\n")
    assert gen_docs.main(["--check"], root=tmp_path) == 1
    message = capsys.readouterr().err
    assert "docs/stack-file.md" in message
    assert "stack.schema.json" not in message
    assert "python scripts/gen_docs.py" in message

    assert gen_docs.main([], root=tmp_path) == 0
    assert gen_docs.main(["--check"], root=tmp_path) == 0
    assert (tmp_path / "docs" / "stack-file.md").read_text() == REFERENCE.read_text()


def test_schema_file_is_the_schema() -> None:
    from leapfrog.spec import json_schema

    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == json_schema()


def test_every_model_field_is_documented() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    classes = _model_classes()
    assert {c.__name__ for c in classes} >= {"StackSpec", "ServiceSpec", "CheckSpec"}
    missing = []
    for model in classes:
        docstring = " ".join((model.__doc__ or "").split())
        if docstring not in text:
            missing.append(f"{model.__name__} (its docstring)")
        for name, field in model.model_fields.items():
            description = " ".join((field.description or "").split()).replace("|", "\\|")
            assert description, f"{model.__name__}.{name} has no description"
            if not any(row.startswith(f"| `{name}` |") and description in row for row in rows):
                missing.append(f"{model.__name__}.{name}")
    assert missing == [], f"not in docs/stack-file.md: {missing}"


def test_example_stack_loads_and_fits_the_schema(
    validator: jsonschema.Draft202012Validator,
) -> None:
    stack = load_stack(EXAMPLE)
    assert stack.spec.services
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def test_documented_example_loads_and_fits_the_schema(
    gen_docs: ModuleType, validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    example: str = gen_docs.EXAMPLE
    assert f"```yaml\n{example}```" in REFERENCE.read_text(encoding="utf-8")
    (tmp_path / "worker").mkdir()  # its working_dir, which must exist
    stack = parse_stack(example, "leapfrog.yaml", tmp_path)
    spec = stack.spec
    assert set(spec.services) == {"web", "api", "worker", "cache"}
    assert spec.services["web"].restart.policy == "always"  # merged from x-defaults
    assert spec.services["worker"].restart.policy == "no"
    assert spec.services["web"].env["DEBUG"] == "yes"
    data: Any = yaml.safe_load(example)
    assert [e.message for e in validator.iter_errors(data)] == []
    # Every key of every section is shown, `user` only as a comment (it needs root).
    for model in _model_classes():
        for name in model.model_fields:
            assert f"{name}:" in example, f"the example does not show {model.__name__}.{name}"


def test_pasted_error_output_is_what_leapfrog_prints(gen_docs: ModuleType, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    env.pop("LEAPFROG_FILE", None)
    env.update(COLUMNS="120", NO_COLOR="1")
    pasted: dict[str, str] = gen_docs.PASTED_OUTPUTS
    assert pasted
    for stack_text, output in pasted.items():
        (tmp_path / "leapfrog.yaml").write_text(stack_text, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, "-m", "leapfrog", "validate", "-f", "leapfrog.yaml"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr == output, (
            "leapfrog's error output changed: paste the new output into scripts/gen_docs.py"
        )
