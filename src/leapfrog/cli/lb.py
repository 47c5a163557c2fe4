"""`leapfrog lb run`: the load balancer unit, HAProxy (or nginx) kept in step with the
catalog; the lb component runs it."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import click

from leapfrog.shared.errors import LeapfrogError

__all__ = ["lb"]


@click.group()
def lb() -> None:
    """The load balancer configured from the catalog (HAProxy or nginx)."""


@lb.command(name="run")
@click.option(
    "--engine", type=click.Choice(["haproxy", "nginx"]), default="haproxy", show_default=True
)
@click.option(
    "--listen", default="127.0.0.1:8080", show_default=True, help="Address of the entry point."
)
@click.option(
    "--stats",
    default="127.0.0.1:8404",
    show_default=True,
    help="Address of the stats page and its /health.",
)
@click.option(
    "--wait",
    "wait_text",
    default="50ms:250ms",
    show_default=True,
    metavar="MIN:MAX",
    help="Quiescence after a catalog change.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where the rendered configuration and sockets live.",
)
@click.option(
    "--template",
    "template_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Your own Jinja2 template instead of the default one.",
)
@click.option("--binary", default=None, help="The haproxy or nginx program (default: on PATH).")
@click.option(
    "--slots",
    type=click.IntRange(1, 1024),
    default=4,
    show_default=True,
    help="Minimum server slots per HAProxy backend (changed without a reload).",
)
@click.option(
    "--instance", default="lb-1", show_default=True, help="This instance's name in its log events."
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Every request as an event on stdout (and Kafka's logs topic).",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="HAProxy's threads (nbthread) or nginx's worker processes.",
)
@click.option(
    "--identity/--no-identity",
    envvar="LEAPFROG_IDENTITY",
    default=False,
    show_default=True,
    help="Present this instance's certificate from the catalog's CA to backends that serve "
    "mutual TLS (service identity; the stack sets LEAPFROG_IDENTITY=on).",
)
def run_cmd(
    *,
    identity: bool,
    threads: int,
    access_log: bool,
    instance: str,
    engine: str,
    listen: str,
    stats: str,
    wait_text: str,
    data_dir: Path,
    template_path: Path | None,
    binary: str | None,
    slots: int,
) -> None:
    """Serve until SIGTERM; the catalog address is $CONSUL_HTTP_ADDR."""
    from leapfrog.lb import BalancerSettings, parse_wait, run_balancer

    try:
        wait = parse_wait(wait_text)
    except ValueError as exc:
        raise LeapfrogError(str(exc), hint="e.g. --wait 50ms:250ms") from None
    program = binary or shutil.which(engine) or shutil.which(engine, path="/usr/sbin")
    if not program:
        raise LeapfrogError(f"{engine} is not installed", hint=f"apt-get install {engine}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = BalancerSettings(
        engine=engine,
        listen=listen,
        stats=stats,
        wait=wait,
        data_dir=data_dir.resolve(),
        binary=program,
        template=template_path.resolve() if template_path else None,
        slots=slots,
        instance=instance,
        access_log=access_log,
        threads=threads,
        identity=identity,
    )
    asyncio.run(run_balancer(settings))
