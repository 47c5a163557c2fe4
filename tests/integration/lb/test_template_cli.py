"""`leapfrog template` against a real catalog, as consul-template is used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from leapfrog.testing import CatalogProcess

from .conftest import Backend, wait_for

TEMPLATE = (
    "{% for s in service('tmpl-web') %}server {{ s.id }} {{ s.address }}:{{ s.port }}\n"
    "{% endfor %}limit={{ key('tmpl/limit', 'none') }}\n"
    "{% for s in service('tmpl-nobody') %}never{% endfor %}"
)


def leapfrog(catalog: CatalogProcess, *args: str) -> list[str]:
    return [sys.executable, "-m", "leapfrog", "template", "--consul-addr", catalog.http_addr, *args]


def test_once_renders_and_exits(
    catalog: CatalogProcess, tmp_path: Path, backends: Callable[..., Backend]
) -> None:
    web = backends("tmpl-web", "tmpl-web-1")
    httpx.put(f"http://{catalog.http_addr}/v1/kv/tmpl/limit", content=b"10")
    source, out = tmp_path / "in.tmpl", tmp_path / "out.conf"
    source.write_text(TEMPLATE)
    wait_for(
        "passing",
        lambda: (
            "passing" in httpx.get(f"http://{catalog.http_addr}/v1/health/checks/tmpl-web").text
        ),
    )
    done = subprocess.run(
        leapfrog(catalog, "-t", f"{source}:{out}", "--once"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_text() == f"server tmpl-web-1 127.0.0.1:{web.port}\nlimit=10\n"


def test_syntax_error_names_file_and_line(catalog: CatalogProcess, tmp_path: Path) -> None:
    source = tmp_path / "bad.tmpl"
    source.write_text("fine\n{% for s in services() %}\n{{ s.name }\n")
    done = subprocess.run(
        leapfrog(catalog, "-t", f"{source}:{tmp_path / 'out'}", "--once"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert f"{source}:3" in done.stderr
    assert "Traceback" not in done.stderr


def test_watch_renders_again_and_runs_the_command(
    catalog: CatalogProcess, tmp_path: Path, backends: Callable[..., Backend]
) -> None:
    source, out, ran = tmp_path / "in.tmpl", tmp_path / "out.conf", tmp_path / "ran"
    source.write_text("{% for s in service('tmpl-watch') %}{{ s.id }}\n{% endfor %}")
    command = f"sh -c 'echo run >> {ran}'"
    proc = subprocess.Popen(
        leapfrog(catalog, "-t", f"{source}:{out}:{command}", "--wait", "10ms:100ms"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for("first render", lambda: out.exists() and ran.exists())
        assert out.read_text() == ""
        backends("tmpl-watch", "tmpl-watch-1")
        wait_for("second render", lambda: out.read_text() == "tmpl-watch-1\n")
        wait_for("command again", lambda: ran.read_text().count("run") == 2)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)


def test_lb_run_with_a_broken_template_names_it(catalog: CatalogProcess, tmp_path: Path) -> None:
    source = tmp_path / "mine.cfg.j2"
    source.write_text("global\n{% if services() %}\n")
    done = subprocess.run(
        [sys.executable, "-m", "leapfrog", "lb", "run", "--template", str(source),
         "--data-dir", str(tmp_path / "data"), "--listen", "127.0.0.1:0", "--stats",
         "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "CONSUL_HTTP_ADDR": catalog.http_addr},
    )  # fmt: skip
    assert done.returncode != 0
    assert f"{source}:" in done.stderr and "template syntax error" in done.stderr
    assert "Traceback" not in done.stderr
