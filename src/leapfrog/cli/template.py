"""`leapfrog template`: render Jinja2 templates from a Consul catalog (CONSUL_HTTP_ADDR),
the way consul-template does, running a command after each change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

import click

from leapfrog.shared.errors import LeapfrogError

__all__ = ["template"]


@click.command(name="template")
@click.option(
    "-t",
    "--template",
    "specs",
    multiple=True,
    required=True,
    metavar="IN:OUT[:COMMAND]",
    help="Template to render to OUT, then run COMMAND (e.g. a reload). Repeatable.",
)
@click.option("--once", is_flag=True, help="Render each template once and exit.")
@click.option(
    "--wait",
    "wait_text",
    default="0s:0s",
    show_default=True,
    metavar="MIN:MAX",
    help="Quiescence: render once the catalog was quiet for MIN, at most MAX after a change.",
)
@click.option(
    "--consul-addr",
    default=None,
    help="Catalog address (default: $CONSUL_HTTP_ADDR, else 127.0.0.1:8500); "
    "the token is $CONSUL_HTTP_TOKEN.",
)
def template(specs: tuple[str, ...], once: bool, wait_text: str, consul_addr: str | None) -> None:
    """Render templates from the catalog, again whenever what they read changes.

    \b
    Templates are Jinja2 with service("web", tag=..., passing=True), services(),
    key("path") and keys("prefix"); see docs/lb.md.
    """
    from leapfrog.lb import parse_job, parse_wait, run_templates

    try:
        wait = parse_wait(wait_text)
    except ValueError as exc:
        raise LeapfrogError(str(exc), hint="e.g. --wait 1s:4s") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    jobs = [parse_job(spec) for spec in specs]
    asyncio.run(_until_stopped(run_templates(jobs, wait, once=once, addr=consul_addr)))


async def _until_stopped(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` until it ends or SIGTERM/SIGINT arrives. The handlers are the loop's own,
    so the watcher stops even when started with SIGINT ignored (a non-interactive shell's
    background job), where Python raises no KeyboardInterrupt."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
