"""Health probes: one HTTP GET, one TCP connect, one command. Each returns (ok, detail)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["SchemeMemory", "exec_probe", "http_probe", "tcp_probe"]


@dataclass
class SchemeMemory:
    """Which of TLS and plain HTTP an instance answered its last `tls` probe in, so the
    next probe asks in that one first (one instance, one memory)."""

    plain: bool = False


class _WrongProtocol(Exception):
    """The other side speaks the other protocol (TLS to plain HTTP, or the reverse)."""


async def http_probe(
    host: str,
    port: int,
    path: str,
    timeout: float,
    *,
    tls: bool = False,
    memory: SchemeMemory | None = None,
) -> tuple[bool, str]:
    """GET path; 2xx and 3xx are healthy. HTTP/1.0 keeps the exchange one read long.
    `tls`: over TLS without checking the certificate, as Consul's `TLSSkipVerify` check
    of a service-mesh instance (whose certificate names a service, not an address); an
    answer that is no TLS is asked again in plain HTTP (a program not on the SDK in a
    stack with identity on). `memory` keeps which one answered, which is asked first
    the next time: a plain program costs no failed handshake per probe."""
    if not tls:
        return _result(path, await _get(host, port, path, timeout, None))
    memory = memory if memory is not None else SchemeMemory()
    first, then = (None, _unverified()) if memory.plain else (_unverified(), None)
    answer: int | str | None
    try:
        answer = await _get(host, port, path, timeout, first, other=True)
    except _WrongProtocol:
        answer = None
    # 400 to plain HTTP is also what a TLS server may say ("plain HTTP request sent to
    # an HTTPS port"): asked again in TLS.
    if answer is not None and not (memory.plain and answer == 400):
        return _result(path, answer)
    again = await _get(host, port, path, timeout, then)
    if isinstance(again, int):  # it answers in the other one: ask that first from now on
        memory.plain = then is None
        return _result(path, again)
    return _result(path, again if answer is None else answer)


def _result(path: str, answer: int | str) -> tuple[bool, str]:
    if isinstance(answer, str):
        return False, answer
    return 200 <= answer < 400, f"GET {path}: HTTP {answer}"


async def _get(
    host: str,
    port: int,
    path: str,
    timeout: float,
    context: ssl.SSLContext | None,
    *,
    other: bool = False,
) -> int | str:
    """One GET, in TLS when `context`: the status code, or what went wrong. `other`:
    _WrongProtocol when the answer says the other side speaks the other protocol."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            try:
                request = (
                    f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\nUser-Agent: leapfrog\r\n\r\n"
                )
                writer.write(request.encode())
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        return f"GET {path}: no answer within {timeout:g}s"
    except ssl.SSLError as exc:
        if other:
            raise _WrongProtocol from None  # no TLS there
        return f"GET {path}: TLS: {exc.reason or exc}"
    except ConnectionResetError as exc:
        if other and context is None:
            raise _WrongProtocol from None  # a TLS server resets a plain request
        return f"GET {path}: {exc.strerror or exc}"
    except OSError as exc:
        return f"GET {path}: {exc.strerror or exc}"
    parts = status_line.decode("latin-1").split(maxsplit=2)
    if len(parts) < 2 or not parts[1].isdigit():
        if other and context is None:
            raise _WrongProtocol  # a TLS alert, or a close without a word
        return f"GET {path}: not an HTTP answer"
    return int(parts[1])


@functools.cache
def _unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def tcp_probe(host: str, port: int, timeout: float) -> tuple[bool, str]:
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    except TimeoutError:
        return False, f"TCP {host}:{port}: no answer within {timeout:g}s"
    except OSError as exc:
        return False, f"TCP {host}:{port}: {exc.strerror or exc}"
    return True, f"TCP {host}:{port}: connected"


async def exec_probe(
    argv: Sequence[str], env: Mapping[str, str], cwd: str, timeout: float
) -> tuple[bool, str]:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return False, f"{argv[0]}: {exc.strerror or exc}"
    try:
        async with asyncio.timeout(timeout):
            output, _ = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        await proc.wait()
        return False, f"{argv[0]}: no exit within {timeout:g}s"
    text = output.decode(errors="replace").strip().splitlines()
    last = text[-1][:200] if text else ""
    return proc.returncode == 0, f"exit {proc.returncode}" + (f": {last}" if last else "")
