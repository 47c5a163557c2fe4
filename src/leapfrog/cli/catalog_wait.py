"""`leapfrog catalog wait-token`: wait until the catalog knows this process's token.

On Kubernetes a pod's catalog token is a generated Secret whose value becomes a Consul
token only when the `catalog-acl` Job has run; a pod that starts first would fail (its
registration and its leaf certificate refused) and be restarted by the kubelet until
then. Its init container runs this instead: it returns once `/v1/acl/token/self`
answers for the token, which every Consul token may read about itself."""

from __future__ import annotations

import json
import time

import click

from leapfrog.cli.options import DURATION
from leapfrog.shared.durations import format_duration
from leapfrog.shared.errors import LeapfrogError

__all__ = ["wait_token"]

_EVERY = 1.0
_SAY_EVERY = 15.0


@click.command(name="wait-token")
@click.option(
    "--timeout",
    type=DURATION,
    default="10m",
    show_default=True,
    help="Give up (exit 1) when the token still does not work after this long.",
)
@click.option(
    "--consul-addr",
    default=None,
    help="Catalog address (default: $CONSUL_HTTP_ADDR, else 127.0.0.1:8500); "
    "the token is $CONSUL_HTTP_TOKEN.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object when it works, for scripts.")
def wait_token(timeout: float, consul_addr: str | None, as_json: bool) -> None:
    """Wait until the catalog accepts $CONSUL_HTTP_TOKEN (an init container's job)."""
    import os

    import httpx

    from leapfrog.lb import catalog_url

    token = os.environ.get("CONSUL_HTTP_TOKEN", "")
    if not token:
        raise LeapfrogError(
            "CONSUL_HTTP_TOKEN is not set: there is no token to wait for",
            hint="set CONSUL_HTTP_TOKEN to the token this process will use",
        )
    url = catalog_url(consul_addr) + "/v1/acl/token/self"
    start = time.monotonic()
    said = start
    last = "no answer yet"
    with httpx.Client(headers={"X-Consul-Token": token}, timeout=5) as http:
        while True:
            try:
                answer = http.get(url)
            except httpx.HTTPError as exc:
                last = f"the catalog at {url} did not answer ({type(exc).__name__})"
            else:
                if answer.status_code == 200:
                    break
                # The answer names no secret: Consul says "ACL not found".
                last = f"the catalog answers {answer.status_code}: {answer.text.strip()[:200]}"
            now = time.monotonic()
            if now - start >= timeout:
                limit = format_duration(timeout)
                raise LeapfrogError(
                    f"the catalog token still does not work after {limit}: {last}",
                    hint="check that the catalog's ACL Job ran (kubectl get jobs, its logs)",
                )
            if now - said >= _SAY_EVERY:
                click.echo(f"waiting for the catalog token: {last}", err=True)
                said = now
            time.sleep(_EVERY)
    accessor = str(answer.json().get("AccessorID", ""))
    waited = round(time.monotonic() - start, 1)
    if as_json:
        click.echo(json.dumps({"token": "works", "accessor": accessor, "waited_s": waited}))
    else:
        click.echo(f"the catalog token works (accessor {accessor}, after {waited}s)")
