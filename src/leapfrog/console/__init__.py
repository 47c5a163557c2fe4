"""The console: one web UI for the stack (overview, services and KV, logs, metrics,
backups, streams), served by `leapfrog console serve` as the `console` component.
See docs/console.md."""

from leapfrog.components.dashboards import DASHBOARDS, Dashboard, Panel
from leapfrog.console._app import create_app
from leapfrog.console._serve import serve
from leapfrog.console._settings import ConsoleSettings

__all__ = ["DASHBOARDS", "ConsoleSettings", "Dashboard", "Panel", "create_app", "serve"]
