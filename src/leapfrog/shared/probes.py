"""Health probes: one HTTP GET, one TCP connect, one command. Each returns (ok, detail)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import ssl
from collections.abc import Mapping, Sequence

__all__ = ["exec_probe", "http_probe", "tcp_probe"]


async def http_probe(
    host: str, port: int, path: str, timeout: float, *, tls: bool = False
) -> tuple[bool, str]:
    """GET path; 2xx and 3xx are healthy. HTTP/1.0 keeps the exchange one read long.
    `tls`: over TLS without checking the certificate, as Consul's `TLSSkipVerify` check
    of a service-mesh instance (whose certificate names a service, not an address); an
    answer that is no TLS is asked again in plain HTTP."""
    context = _unverified() if tls else None
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
        return False, f"GET {path}: no answer within {timeout:g}s"
    except ssl.SSLError:
        # No TLS there (a program not on the SDK in a stack with identity on): plain HTTP.
        return await http_probe(host, port, path, timeout)
    except OSError as exc:
        return False, f"GET {path}: {exc.strerror or exc}"
    parts = status_line.decode("latin-1").split(maxsplit=2)
    if len(parts) < 2 or not parts[1].isdigit():
        return False, f"GET {path}: not an HTTP answer"
    code = int(parts[1])
    return 200 <= code < 400, f"GET {path}: HTTP {code}"


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
