"""`leapfrog template`: render templates from the catalog to files, running a command
after each change, like consul-template."""

from __future__ import annotations

import asyncio
import logging
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from leapfrog.lb._client import CatalogClient
from leapfrog.lb._haproxy_cfg import write_maps
from leapfrog.lb._template import Template
from leapfrog.lb._wait import Wait, quiesce
from leapfrog.lb._watch import Dep, Watcher
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.files import atomic_write_text

__all__ = ["TemplateJob", "parse_job", "run_templates"]

log = logging.getLogger("leapfrog.lb")


@dataclass
class TemplateJob:
    template: Template
    dest: Path
    command: str | None = None
    last: str | None = field(default=None, init=False)


def parse_job(spec: str) -> TemplateJob:
    """`in.tmpl:out.conf[:command]` (the command may hold colons)."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise LeapfrogError(
            f"-t {spec!r} is not a template spec",
            hint="write -t in.tmpl:out.conf or -t in.tmpl:out.conf:'reload command'",
        )
    command = parts[2] if len(parts) == 3 and parts[2].strip() else None
    dest = Path(parts[1])
    # `mesh_files` writes next to the output, readable by the group: the reader is a
    # proxy in another container of the same pod (its user differs, its group is the
    # pod's), as with consul-template as a sidecar.
    template = Template(Path(parts[0]), files_dir=dest.parent, group_readable=True)
    return TemplateJob(template, dest, command)


def _run_command(job: TemplateJob) -> None:
    assert job.command is not None
    done = subprocess.run(
        shlex.split(job.command), capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()[-500:]
        log.error(
            "%s: command %r exited with %d: %s", job.dest, job.command, done.returncode, output
        )


ONCE_TIMEOUT = 30.0
"""How long `--once` waits for the catalog's answers before giving up."""


async def run_templates(
    jobs: list[TemplateJob],
    wait: Wait,
    once: bool = False,
    addr: str | None = None,
    token: str | None = None,
) -> None:
    """Render every job whenever what it reads changes; with `once`, render each one
    completely once and return."""
    watcher = Watcher(CatalogClient(addr, token))
    if not once:
        await _follow(jobs, wait, watcher, once)
        return
    try:
        async with asyncio.timeout(ONCE_TIMEOUT):
            await _follow(jobs, wait, watcher, once)
    except TimeoutError:
        problems = "; ".join(sorted(set(watcher.errors.values()))) or "no answer"
        raise LeapfrogError(
            f"the catalog at {watcher.client.base} did not answer within "
            f"{ONCE_TIMEOUT:g}s: {problems}",
            hint="check CONSUL_HTTP_ADDR (or --consul-addr) and that the catalog runs",
        ) from None


async def _follow(jobs: list[TemplateJob], wait: Wait, watcher: Watcher, once: bool) -> None:
    try:
        while True:
            rendered = [job.template.render(watcher) for job in jobs]
            watcher.check()
            if all(r.complete for r in rendered):
                deps: set[Dep] = set()
                for job, result in zip(jobs, rendered, strict=True):
                    deps |= result.deps
                    if result.text != job.last:
                        job.dest.parent.mkdir(parents=True, exist_ok=True)
                        atomic_write_text(job.dest, result.text)
                        write_maps(result.text, job.dest.parent)  # HAProxy's, if any
                        job.last = result.text
                        log.info("rendered %s", job.dest)
                        if job.command:
                            await asyncio.to_thread(_run_command, job)
                if once:
                    return
                watcher.retain(deps)
            await watcher.changed.wait()
            watcher.changed.clear()
            if all(r.complete for r in rendered):
                await quiesce(watcher.changed, wait)
    finally:
        await watcher.close()
