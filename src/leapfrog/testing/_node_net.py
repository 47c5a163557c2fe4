"""The network namespace of a real test node's pods: `python -m leapfrog.testing._node_net
API_PORT LISTEN_PORT READY_FILE [BRIDGE GATEWAY/PREFIX [PORT ...]]` makes a new network
namespace, brings its loopback up and stays in it, so the pods' bridge, their host-side
interfaces and kube-proxy's netfilter rules live there and never in the host's. It also
carries the apiserver into that namespace: 127.0.0.1:LISTEN_PORT there is forwarded to
127.0.0.1:API_PORT of the host (a socket belongs to the namespace it was made in, so each
upstream socket is made after a setns() into the host's namespace). The apiserver's
certificate names 127.0.0.1, so TLS through the forwarder checks as it would directly.

The kubelet runs in that namespace too (its probes must reach the pods' addresses, which
the host has no route to), so the bridge BRIDGE with the pods' gateway address is made
before it starts (its node IP; the CNI plugin finds it made), and each PORT (the
kubelet's API and healthz) is carried the other way: 127.0.0.1:PORT of the host, where
the apiserver reaches the kubelet, to 127.0.0.1:PORT in here. READY_FILE is written when
it listens."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


class Forwarder:
    def __init__(self, host_ns: int, node_ns: int, port: int, *, into_host: bool = True) -> None:
        self.host_ns, self.node_ns, self.port = host_ns, node_ns, port
        self.into_host = into_host

    def host_socket(self) -> socket.socket:
        """A TCP socket of the host's namespace (this thread goes back to the node's)."""
        _check(_libc.setns(self.host_ns, _CLONE_NEWNET), "setns(host)")
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            _check(_libc.setns(self.node_ns, _CLONE_NEWNET), "setns(node)")
        return sock

    def upstream(self) -> socket.socket:
        sock = self.host_socket() if self.into_host else socket.socket()
        sock.setblocking(False)
        return sock

    async def serve(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        upstream = self.upstream()
        try:
            await loop.sock_connect(upstream, ("127.0.0.1", self.port))
        except OSError:
            upstream.close()
            client.close()
            return
        await asyncio.gather(self.pump(client, upstream), self.pump(upstream, client))
        upstream.close()
        client.close()

    @staticmethod
    async def pump(source: socket.socket, sink: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            while data := await loop.sock_recv(source, 65536):
                await loop.sock_sendall(sink, data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            source.close()
            sink.close()


def _listen(sock: socket.socket, port: int) -> socket.socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    sock.setblocking(False)
    return sock


async def _accept(listener: socket.socket, forwarder: Forwarder, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()
    accepting = asyncio.ensure_future(loop.sock_accept(listener))
    while not stop.is_set():
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({accepting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if accepting in done:
            client, _address = accepting.result()
            client.setblocking(False)
            task = asyncio.create_task(forwarder.serve(client))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
    accepting.cancel()


async def _main(
    api_port: int, listen_port: int, ready: Path, bridge: tuple[str, str] | None, ports: list[int]
) -> None:
    host_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    _check(_libc.unshare(_CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    node_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if bridge is not None:
        name, address = bridge
        subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
        subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
    servers = [(_listen(socket.socket(), listen_port), Forwarder(host_ns, node_ns, api_port))]
    for port in ports:
        # Listening in the host's namespace, connecting in this one.
        reverse = Forwarder(host_ns, node_ns, port, into_host=False)
        servers.append((_listen(reverse.host_socket(), port), reverse))
    ready.write_text(str(os.getpid()))
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.gather(*(_accept(listener, fwd, stop) for listener, fwd in servers))


def main(argv: list[str]) -> int:
    bridge = (argv[4], argv[5]) if len(argv) > 5 else None
    ports = [int(port) for port in argv[6:]]
    asyncio.run(_main(int(argv[1]), int(argv[2]), Path(argv[3]), bridge, ports))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
