"""The baseline server of bench/catalog.py: bare asyncio streams, no catalog logic.

Run as `python bench/_catalog_bare.py`; it listens on a free 127.0.0.1 port and prints
`bare ready: http=127.0.0.1:PORT`. It reads each request in full (head, then the
Content-Length body) and:

* `GET /v1/health/service/<name>?index=...`: holds the request (the long-poll);
* `PUT /bench/trigger/<name>`: answers every held request for <name> with this request's
  body and a higher X-Consul-Index, then answers the trigger `true`;
* anything else: 200 `true` at once.

So it does the least any server must do for the same traffic: parse, keep a connection
per watcher, write the answers. The gap to the catalog is the catalog's own work.

With `--journal FILE` it also keeps the promise the catalog keeps: a change is on disk
before anyone sees it. The trigger appends a line to FILE and fsyncs it on a thread
(the catalog's group commit does the same), and only then answers the held requests.
Without it, the catalog's notify latency would be compared with a server that skips
the disk, and the figure would measure the disk's fsync time (4-8 ms here, and up to
tens of ms when other work writes), not the catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import BinaryIO

HEALTH = b"/v1/health/service/"
TRIGGER = b"/bench/trigger/"


class BareServer:
    def __init__(self, journal: BinaryIO | None) -> None:
        self.held: dict[bytes, list[asyncio.StreamWriter]] = {}
        self.index = 1
        self.journal = journal

    def _commit(self, line: bytes) -> None:
        assert self.journal is not None
        self.journal.write(line)
        self.journal.flush()
        os.fsync(self.journal.fileno())

    def reply(self, body: bytes) -> bytes:
        # The headers the catalog sends with a blocking health read, so that the client
        # reads the same bytes from both servers (only the index's digits differ).
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"X-Consul-Index: %d\r\nX-Consul-KnownLeader: true\r\nX-Consul-LastContact: 0"
            b"\r\nX-Consul-Query-Backend: streaming\r\nX-Consul-Effective-Consistency: leader"
            b"\r\nX-Consul-Default-Acl-Policy: allow\r\n\r\n%s" % (len(body), self.index, body)
        )

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].split(b" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b""
                if self.journal is not None and target.startswith(TRIGGER):
                    line = b"%d %s\n" % (self.index + 1, target)
                    await asyncio.get_running_loop().run_in_executor(None, self._commit, line)
                self.answer(method, target, body, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def answer(
        self, method: bytes, target: bytes, body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        path, _, query = target.partition(b"?")
        if method == b"GET" and path.startswith(HEALTH) and b"index=" in query:
            # The client sends nothing more on this connection until it is answered.
            self.held.setdefault(path[len(HEALTH) :], []).append(writer)
        elif path.startswith(TRIGGER):
            self.index += 1
            for held in self.held.pop(path[len(TRIGGER) :], []):
                held.write(self.reply(body))
            writer.write(self.reply(b"true"))
        else:
            writer.write(self.reply(b"true"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", help="append and fsync each change here before answering")
    args = parser.parse_args()
    journal = open(args.journal, "ab") if args.journal else None  # noqa: SIM115
    bare = BareServer(journal)
    server = await asyncio.start_server(bare.connection, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"bare ready: http=127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
