"""`leapfrog catalog serve`: the embedded Consul-compatible catalog, run on its own."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import stat
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import click

from leapfrog.shared.errors import LeapfrogError

if TYPE_CHECKING:  # imported when the command runs: `leapfrog --help` stays light
    from leapfrog.catalog import AclConfig, CatalogConfig, RunningCatalog

log = logging.getLogger("leapfrog.catalog")

MANAGEMENT_TOKEN_FILE = "acl-management-token"
"""Where `serve` keeps the management token it generates, inside --data-dir."""

__all__ = ["catalog"]


def _address(value: str, option: str) -> tuple[str, int]:
    host, colon, port = value.rpartition(":")
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise LeapfrogError(
            f"{option} {value!r} is not an address",
            hint=f"use HOST:PORT, e.g. {option} 127.0.0.1:0",
        )
    return host, int(port)


def _warn_if_shared(path: Path) -> None:
    """Tokens are passwords: say so when other users may read the file that holds one."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return
    if mode & 0o077:
        log.warning(
            "%s holds ACL tokens but its mode is %04o: other users may read it; "
            "run `chmod 600 %s`",
            path, mode, path,
        )  # fmt: skip


def _read_token(path: Path) -> str:
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise LeapfrogError(
            f"cannot read the ACL token file {path}: {exc.strerror}",
            hint="give a file that holds the management token",
        ) from None
    if not token:
        raise LeapfrogError(f"the ACL token file {path} is empty", hint="write a token into it")
    _warn_if_shared(path)
    return token


def _management_token(path: Path) -> str:
    """The token in `path`; generated there (mode 0600) when the file does not exist.
    Only where it is is logged, never the token."""
    if path.exists():
        token = _read_token(path)
        log.info("ACL on: the management token is in %s", path)
        return token
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = str(uuid.uuid4())  # os.urandom: a secret, shaped like Consul's tokens
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise LeapfrogError(
            f"cannot create the ACL token file {path}: {exc.strerror}",
            hint="give --acl-token-file a path the catalog can write, or --acl off",
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    log.info("ACL on: generated a management token in %s (mode 0600)", path)
    return token


def _acl_config(
    acl: str,
    data_dir: Path,
    token_file: Path | None,
    tokens_file: Path | None,
    anonymous_read: bool,
) -> AclConfig | None:
    from leapfrog.catalog import AclConfig, AclError

    if acl == "off":
        if token_file or tokens_file or anonymous_read:
            raise LeapfrogError(
                "--acl off leaves nothing for --acl-token-file, --acl-tokens-file or "
                "--anonymous-read to do",
                hint="drop those options, or drop --acl off",
            )
        log.warning("ACL off: every local process may read and write everything")
        return None
    management = _management_token(token_file or data_dir / MANAGEMENT_TOKEN_FILE)
    try:
        if tokens_file:
            # Read again whenever it changes: the supervisor adds instances' tokens there.
            config = AclConfig.with_tokens_file(management, tokens_file, anonymous_read)
            _warn_if_shared(tokens_file)
        else:
            config = AclConfig(management, (), anonymous_read)
    except AclError as exc:
        raise LeapfrogError(
            f"the ACL tokens are not usable: {exc}",
            hint="see docs/catalog.md (ACL) for the tokens file",
        ) from None
    if anonymous_read:
        log.warning("ACL: requests without a token may read everything, KV values included")
    return config


@click.group()
def catalog() -> None:
    """The embedded Consul-compatible service catalog (HTTP API, DNS, KV, health checks)."""


@catalog.command(name="serve")
@click.option(
    "--http",
    "http",
    default="127.0.0.1:8500",
    show_default=True,
    help="HTTP API address (port 0: any free port).",
)
@click.option(
    "--dns",
    "dns",
    default="127.0.0.1:8600",
    show_default=True,
    help="DNS address (UDP and TCP), or 'off'.",
)
@click.option(
    "--recursor",
    "recursors",
    multiple=True,
    metavar="IP[:PORT]",
    help="Where DNS questions outside the catalog's domain are asked (Consul's -recursor), "
    "in turn until one answers; repeat for more. None: such questions are refused.",
)
@click.option(
    "--recursor-timeout",
    type=float,
    default=2.0,
    show_default=True,
    help="Seconds each recursor has to answer before the next is asked (SERVFAIL after "
    "the last), as Consul's recursor_timeout.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the catalog keeps its state.",
)
@click.option("--datacenter", default="dc1", show_default=True)
@click.option("--node", "node", default=None, help="Node name (default: this host's name).")
@click.option(
    "--acl",
    type=click.Choice(["on", "off"]),
    default="on",
    show_default=True,
    help="ACL as Consul's default-deny: a request without a token may do only what "
    "--anonymous-read grants (nothing by default). 'off': anyone may do anything.",
)
@click.option(
    "--acl-token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file that holds the management token; generated (mode 0600) when it does "
    f"not exist. Default: DATA_DIR/{MANAGEMENT_TOKEN_FILE}.",
)
@click.option(
    "--acl-tokens-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='More tokens, each with Consul JSON rules: {"tokens": {"NAME": {"SecretID": ..., '
    '"Rules": {...}}}}. The one named "dns" is what DNS lookups may read.',
)
@click.option(
    "--anonymous-read/--no-anonymous-read",
    default=False,
    show_default=True,
    help="Let requests without a token read everything (services, nodes, checks, KV values, "
    'sessions), and DNS too unless a "dns" token is given. Off: they see nothing, as in '
    "Consul.",
)
@click.option(
    "--ui",
    "ui_url",
    default=None,
    metavar="URL",
    help="Where /ui leads: the stack's console (http://127.0.0.1:8900). Unset: /ui is a 404.",
)
@click.option(
    "--reap-after-minimum",
    "reap_minimum",
    type=float,
    default=60.0,
    show_default=True,
    help="Floor, in seconds, of DeregisterCriticalServiceAfter (Consul's is 60); lower it "
    "only for tests.",
)
@click.option(
    "--reap-interval",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between passes that remove long-critical services.",
)
@click.option(
    "--leaf-cert-ttl",
    "leaf_ttl",
    default="72h",
    show_default=True,
    metavar="DURATION",
    help="Lifetime of the service-mesh leaf certificates (Consul's LeafCertTTL, a Go "
    "duration such as 72h or 90s); each is replaced at 60-90% of it.",
)
@click.option(
    "--default-intention-policy",
    type=click.Choice(["allow", "deny"]),
    default=None,
    help="What /v1/agent/connect/authorize answers when no intention matches. Unset: as "
    "Consul, the ACL default (deny with --acl on, allow with --acl off).",
)
def serve_cmd(
    *,
    leaf_ttl: str,
    default_intention_policy: str | None,
    reap_minimum: float,
    reap_interval: float,
    http: str,
    dns: str,
    recursors: tuple[str, ...],
    recursor_timeout: float,
    data_dir: Path,
    datacenter: str,
    node: str | None,
    acl: str,
    acl_token_file: Path | None,
    acl_tokens_file: Path | None,
    anonymous_read: bool,
    ui_url: str | None,
) -> None:
    """Serve the catalog until SIGTERM or Ctrl-C; prints one line once it listens.

    ACL is on unless `--acl off`: without --acl-token-file a management token is
    generated in the data directory (mode 0600) and its path logged, never the token.
    The data directory is kept mode 0700 and its files 0600.
    """
    from leapfrog.catalog import CatalogConfig
    from leapfrog.catalog.dns import parse_recursor

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    http_host, http_port = _address(http, "--http")
    ttl = _leaf_ttl(leaf_ttl)
    dns_host, dns_port = ("127.0.0.1", None) if dns == "off" else _address(dns, "--dns")
    config = CatalogConfig(
        data_dir=data_dir,
        http_host=http_host,
        http_port=http_port,
        dns_host=dns_host,
        dns_port=dns_port,
        recursors=tuple(parse_recursor(text) for text in recursors),
        recursor_timeout=_recursor_timeout(recursor_timeout),
        datacenter=datacenter,
        node_name=node or socket.gethostname(),
        acl=_acl_config(acl, data_dir, acl_token_file, acl_tokens_file, anonymous_read),
        reap_minimum=max(reap_minimum, 0.0),
        reap_interval=max(reap_interval, 0.1),
        ui_url=ui_url,
        leaf_ttl=ttl,
        default_intention_policy=default_intention_policy,
    )
    import uvloop  # libuv's loop: measured 25-50% more registrations/s (bench/catalog.py)

    uvloop.run(_run(config))


def _recursor_timeout(seconds: float) -> float:
    if not 0.1 <= seconds <= 60:
        raise click.BadParameter(
            f"{seconds} is not between 0.1 and 60 seconds", param_hint="--recursor-timeout"
        )
    return seconds


def _leaf_ttl(text: str) -> float:
    from leapfrog.catalog._godur import parse_go_duration

    try:
        seconds = parse_go_duration(text)
    except ValueError:
        seconds = 0.0
    if seconds < 10:
        raise click.BadParameter(
            f"{text!r} is not a Go duration of at least 10s (72h, 30m, 90s)",
            param_hint="--leaf-cert-ttl",
        )
    return seconds


async def _run(config: CatalogConfig) -> None:
    from leapfrog.catalog import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def ready(running: RunningCatalog) -> None:
        click.echo(running.describe())

    await serve(config, ready=ready, stop=stop)


def _add_wait_token() -> None:
    from leapfrog.cli.catalog_wait import wait_token

    catalog.add_command(wait_token)


_add_wait_token()
