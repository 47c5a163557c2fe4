"""A kubeconfig for a cluster that does not exist: the unit tests that drive lightkube
answer its requests with a transport of their own."""

from __future__ import annotations

from typing import Any

from lightkube.config.kubeconfig import KubeConfig, SingleConfig

KUBECONFIG: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Config", "current-context": "c",
    "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
    "clusters": [{"name": "k", "cluster": {"server": "https://fake.example"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
}  # fmt: skip


def fake_config() -> SingleConfig:
    return KubeConfig.from_dict(KUBECONFIG).get()
