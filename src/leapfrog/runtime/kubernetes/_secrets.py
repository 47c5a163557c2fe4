"""Generated Secrets: fresh random values, and the keys derived from them (URLs).

They are written into rendered files only when the stack asks (`write_secrets`);
otherwise `apply` creates each one in the cluster when it is absent and never
overwrites it, so a password stays the one the database already has.
"""

from __future__ import annotations

import secrets
import uuid

from leapfrog.components import kube as k

__all__ = ["generate", "secret_manifest"]


def generate(secret: k.KubeSecret) -> dict[str, str]:
    values = {
        key: str(uuid.uuid4()) if kind == "uuid" else secrets.token_urlsafe(24)
        for key, kind in secret.generated.items()
    }
    for key, template in secret.derived.items():
        text = template
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
        values[key] = text
    return values


def secret_manifest(secret: k.KubeSecret, kube: k.KubeContext) -> k.Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": kube.meta(secret.name, "secret", app=secret.component),
        "type": "Opaque",
        "stringData": generate(secret),
    }
