"""`leapfrog console`: where the stack's web console is; `leapfrog console serve` runs it
(the `console` component does, see docs/console.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from leapfrog.cli.options import file_option, load_chosen
from leapfrog.shared.errors import LeapfrogError

__all__ = ["console"]


@click.group(invoke_without_command=True)
@file_option()
@click.option("--json", "as_json", is_flag=True, help="Print the URLs as JSON.")
@click.option(
    "--open", "open_it", is_flag=True, help="Also open it in a browser (only with a display)."
)
@click.pass_context
def console(ctx: click.Context, stack_file: Path | None, as_json: bool, open_it: bool) -> None:
    """Print the URL of the stack's web console and how to log in."""
    if ctx.invoked_subcommand is not None:
        return
    stack = load_chosen(ctx, stack_file)
    raw = stack.spec.components.get("console")
    if raw is None:
        raise LeapfrogError(
            f"{stack.path.name} has no console",
            hint="add `console: {}` under `components:` and run `leapfrog up -d` again",
        )
    from leapfrog.components import component

    comp = component("console")
    url = comp.web_ui(comp.options(raw)) or ""
    if as_json:
        click.echo(json.dumps({"url": url, "login": url + "login"}))
        return
    click.echo(url)
    click.echo(
        f"log in at {url}login with a catalog token: `leapfrog secrets catalog` prints them "
        "(the `read` token gives a read-only console)"
    )
    if open_it and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        import webbrowser

        webbrowser.open(url)


@console.command()
@click.option(
    "--listen", default="127.0.0.1:8900", show_default=True, help="HOST:PORT to serve on."
)
@click.option(
    "--logs-index", default="logs", show_default=True, help="Search PREFIX-* in OpenSearch."
)
@click.option(
    "--metrics-database", default="leapfrog", show_default=True, help="InfluxDB database."
)
@click.option(
    "--catalog",
    envvar="CONSUL_HTTP_ADDR",
    default="127.0.0.1:8500",
    show_default=True,
    help="The catalog's address [env: CONSUL_HTTP_ADDR].",
)
@click.option(
    "--htmx",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The npm package htmx.org, unpacked (the component's install fetches it).",
)
@click.option(
    "--uplot",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The npm package uplot, unpacked.",
)
def serve(
    *,
    listen: str,
    logs_index: str,
    metrics_database: str,
    catalog: str,
    htmx: Path | None,
    uplot: Path | None,
) -> None:
    """Serve the console until SIGTERM. OpenSearch, InfluxDB and Flink come from
    OPENSEARCH_URL, INFLUXDB_URL and FLINK_URL; the stack's state from LEAPFROG_STATE_DIR
    and LEAPFROG_CONTROL_SOCKET (the runtime sets them all)."""
    from leapfrog.components._npm import cached_package
    from leapfrog.components.console import FRONT_END
    from leapfrog.console import ConsoleSettings
    from leapfrog.console import serve as run
    from leapfrog.shared.cache import cache_dir

    # Without the paths (Kubernetes' image, a hand start), the cache `install` filled.
    htmx = htmx or cached_package(cache_dir(), "htmx.org", FRONT_END["htmx.org"])
    uplot = uplot or cached_package(cache_dir(), "uplot", FRONT_END["uplot"])
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise LeapfrogError(f"--listen {listen}: expected HOST:PORT", hint="e.g. 127.0.0.1:8900")
    settings = ConsoleSettings.from_env(
        catalog_url=catalog if "://" in catalog else f"http://{catalog}",
        logs_index=logs_index,
        metrics_database=metrics_database,
        htmx_dir=htmx,
        uplot_dir=uplot,
    )
    try:
        run(settings, host, int(port))
    except OSError as exc:
        raise LeapfrogError(f"cannot listen on {listen}: {exc.strerror or exc}") from None
