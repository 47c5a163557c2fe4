"""`leapfrog exec --target kubernetes`: a command in each chosen pod of the stack, through
the pods' exec API (the official client's websocket stream), with the same results as
the local `exec`: output by line, an exit code per pod, a timeout.

The pods are those the render labelled with the stack (`app.kubernetes.io/part-of`):
a service's name chooses its running pods, a pod's name that pod, `--all` every
service's pods. The exec API has no way to signal what it started, so a timed-out
command is cut off from the caller and left to finish in its container (said in the
result); `timeout 30 CMD` inside the container ends it there too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leapfrog.runtime.kubernetes._apply import kubeconfig_path
from leapfrog.runtime.local.execution import TIMED_OUT, ExecResult
from leapfrog.shared.errors import LeapfrogError

__all__ = ["PodTarget", "choose_pods", "exec_in_pods"]

OnLine = Callable[[str, str, str], None]
_NAME = "app.kubernetes.io/name"
_PART_OF = "app.kubernetes.io/part-of"
_COMPONENT = "app.kubernetes.io/component"
_CANARY_OF = "leapfrog.dev/canary-of"


@dataclass(frozen=True)
class PodTarget:
    pod: str
    unit: str
    container: str


def _core(kubeconfig: Path | None, context: str | None) -> Any:
    from kubernetes import client, config

    path = kubeconfig_path(kubeconfig)
    try:
        # The client is untyped; its ApiClient is only handed to CoreV1Api.
        api = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(path), context=context
        )
    except (config.ConfigException, ValueError, KeyError) as exc:
        which = f"context {context!r}" if context else "the current context"
        raise LeapfrogError(
            f"cannot use {which} of {path}: {exc}", hint="list them: kubectl config get-contexts"
        ) from None
    return client.CoreV1Api(api)


def choose_pods(
    pods: Sequence[dict[str, Any]], stack: str, names: Sequence[str], every: bool
) -> list[PodTarget]:
    """The running pods of the stack chosen by `names` (a service, or a pod's name) or
    `every` (every service's pods), in name order; LeapfrogError naming an unknown one."""

    def labels(pod: dict[str, Any]) -> dict[str, str]:
        found = dict(pod.get("metadata", {}).get("labels") or {})
        if _CANARY_OF in found:  # a canary's pod (NAME-canary) is one of NAME's
            found[_NAME] = found[_CANARY_OF]
        return found

    mine = [
        p
        for p in pods
        if labels(p).get(_PART_OF) == stack and (p.get("status") or {}).get("phase") == "Running"
    ]
    mine.sort(key=lambda p: p["metadata"]["name"])

    def target(pod: dict[str, Any]) -> PodTarget:
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        unit = labels(pod).get(_NAME, pod["metadata"]["name"])
        names_here = [c.get("name") for c in containers]
        container = unit if unit in names_here else str(names_here[0])
        return PodTarget(pod["metadata"]["name"], unit, container)

    chosen: list[PodTarget] = []
    if every:
        chosen = [
            target(p)
            for p in mine
            if (p["metadata"].get("labels") or {}).get(_COMPONENT) == "service"
        ]
    for name in names:
        found = [
            target(p) for p in mine if p["metadata"]["name"] == name or labels(p).get(_NAME) == name
        ]
        if not found:
            known = sorted({labels(p).get(_NAME, "") for p in mine} - {""})
            raise LeapfrogError(
                f"no running pod of {stack} is named or belongs to {name!r}",
                hint=f"services with running pods: {', '.join(known) or 'none'}; "
                "`kubectl get pods` lists them",
            )
        chosen.extend(t for t in found if t not in chosen)
    if not chosen:
        raise LeapfrogError(
            "no pod to run the command in", hint="name a service or a pod, or use --all"
        )
    return chosen


def exec_in_pods(
    kubeconfig: Path | None,
    context: str | None,
    namespace: str,
    *,
    stack: str,
    names: Sequence[str],
    every: bool,
    argv: Sequence[str],
    parallel: int = 0,
    timeout: float | None = None,
    on_line: OnLine | None = None,
) -> list[ExecResult]:
    """Run `argv` in each chosen pod; results in the pods' order."""
    core = _core(kubeconfig, context)
    listed = core.list_namespaced_pod(namespace, label_selector=f"{_PART_OF}={stack}")
    pods = core.api_client.sanitize_for_serialization(listed).get("items", [])
    targets = choose_pods(pods, stack, names, every)
    workers = parallel if parallel > 0 else len(targets)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(
            pool.map(
                lambda t: _run_one(core, namespace, t, argv=argv, timeout=timeout, on_line=on_line),
                targets,
            )
        )


def _run_one(
    core: Any,
    namespace: str,
    target: PodTarget,
    *,
    argv: Sequence[str],
    timeout: float | None,
    on_line: OnLine | None,
) -> ExecResult:
    from kubernetes.client.exceptions import ApiException
    from kubernetes.stream import stream
    from kubernetes.stream.ws_client import ERROR_CHANNEL

    result = ExecResult(target.pod, target.unit)
    began = time.monotonic()
    deadline = None if timeout is None else began + timeout
    partial = {"stdout": "", "stderr": ""}

    def lines(kind: str, text: str, into: list[str]) -> None:
        partial[kind] += text
        *whole, partial[kind] = partial[kind].split("\n")
        for line in whole:
            into.append(line)
            if on_line is not None:
                on_line(result.instance, kind, line)

    try:
        ws = stream(
            core.connect_get_namespaced_pod_exec,
            target.pod,
            namespace,
            container=target.container,
            command=list(argv),
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
            _preload_content=False,
        )
    except ApiException as exc:
        result.error = f"the exec API refused: {exc.status} {exc.reason}"
        result.seconds = time.monotonic() - began
        return result
    except Exception as exc:  # the websocket library's own errors (handshake, TLS)
        result.error = f"cannot reach the pod's exec API: {exc}"
        result.seconds = time.monotonic() - began
        return result
    try:
        while ws.is_open():
            if deadline is not None and time.monotonic() > deadline:
                result.timed_out = True
                result.exit_code = TIMED_OUT
                result.error = (
                    f"timed out after {timeout:g}s; cut off (the exec API cannot stop it: it "
                    "may still run in the container)"
                )
                break
            ws.update(timeout=0.2)
            if ws.peek_stdout():
                lines("stdout", ws.read_stdout(), result.stdout)
            if ws.peek_stderr():
                lines("stderr", ws.read_stderr(), result.stderr)
        if not result.timed_out:
            for kind, into in (("stdout", result.stdout), ("stderr", result.stderr)):
                if partial[kind]:
                    lines(kind, "\n", into)
            result.exit_code, result.error = _exit(ws.read_channel(ERROR_CHANNEL))
    finally:
        ws.close()
        result.seconds = time.monotonic() - began
    return result


def _exit(status_text: str) -> tuple[int | None, str | None]:
    """The exit code in the exec API's final Status (channel 3): Success is 0; a
    NonZeroExitCode carries it in `details.causes`; anything else did not run."""
    if not status_text:
        return None, "the exec API closed without a status"
    try:
        status = json.loads(status_text)
    except ValueError:
        return None, status_text.strip()
    if status.get("status") == "Success":
        return 0, None
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message", 1)), None
    return None, str(status.get("message") or status_text).strip()
