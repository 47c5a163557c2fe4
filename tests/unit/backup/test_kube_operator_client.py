"""The operator's API client follows its credentials: an operator started again with
another ServiceAccount's kubeconfig in the same process acts as that account."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leapfrog.backup import kube_operator


def _kubeconfig(path: Path, token: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_client_per_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _kubeconfig(tmp_path / "first", "token-one")
    second = _kubeconfig(tmp_path / "second", "token-two")
    monkeypatch.setenv("KUBECONFIG", str(first))
    one = kube_operator._client()
    assert kube_operator._client() is one
    monkeypatch.setenv("KUBECONFIG", str(second))
    two = kube_operator._client()
    assert two is not one
    monkeypatch.setenv("KUBECONFIG", str(first))
    assert kube_operator._client() is one
