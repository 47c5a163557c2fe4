"""A small authoritative DNS server for tests: the upstream resolver a catalog's
`recursors` name. dnspython builds and parses the messages; a thread serves UDP and
TCP on one address until closed.

Names in `records` answer their A record; every other name is NXDOMAIN; names in
`silent` get no answer at all (a resolver that does not respond)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["UpstreamDns"]


class UpstreamDns:
    def __init__(
        self,
        host: str,
        port: int = 0,
        records: Mapping[str, str] | None = None,
        silent: Iterable[str] = (),
    ) -> None:
        self.records = {dns.name.from_text(k): v for k, v in (records or {}).items()}
        self.silent = {dns.name.from_text(name) for name in silent}
        self.questions: list[str] = []
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((host, port))
        self.host, self.port = self._udp.getsockname()
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((host, self.port))
        self._tcp.listen(16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="upstream-dns", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def answer(self, data: bytes) -> bytes | None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        self.questions.append(question.name.to_text())
        if question.name in self.silent:
            return None
        response = dns.message.make_response(query)
        address = self.records.get(question.name)
        if address is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A:
            response.answer.append(
                dns.rrset.from_text(question.name, 30, dns.rdataclass.IN, "A", address)
            )
        response.flags |= dns.flags.AA
        return response.to_wire()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ)
            selector.register(self._tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    with contextlib.suppress(Exception):  # a bad query must not stop it
                        if key.fileobj is self._udp:
                            data, peer = self._udp.recvfrom(4096)
                            reply = self.answer(data)
                            if reply is not None:
                                self._udp.sendto(reply, peer)
                        else:
                            self._one_tcp()

    def _one_tcp(self) -> None:
        conn, _ = self._tcp.accept()
        with conn:
            conn.settimeout(2)
            size = int.from_bytes(conn.recv(2), "big")
            data = b""
            while len(data) < size:
                chunk = conn.recv(size - len(data))
                if not chunk:
                    return
                data += chunk
            reply = self.answer(data)
            if reply is not None:
                conn.sendall(len(reply).to_bytes(2, "big") + reply)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> UpstreamDns:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
