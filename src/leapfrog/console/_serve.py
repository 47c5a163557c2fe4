"""Serving the console with uvicorn until SIGTERM."""

from __future__ import annotations

import logging

import uvicorn

from leapfrog.console._app import create_app
from leapfrog.console._settings import ConsoleSettings

__all__ = ["serve"]


def serve(settings: ConsoleSettings, host: str, port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    logging.getLogger("leapfrog.console").info("console on http://%s:%d/", host, port)
    uvicorn.Server(config).run()
