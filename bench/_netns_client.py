"""The load of bench/netns.py: `python _netns_client.py HOST PORT SECONDS CONNECTIONS`.

Each connection sends a 64-byte request and waits for the 64-byte answer, again and
again, for SECONDS; a fresh connection per 50th request, so connection set-up (the
firewall's first-packet rules) is in the figure too. Prints the requests done as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
import time

SIZE = 64
FRESH_EVERY = 50


async def one(host: str, port: int, until: float) -> int:
    done = 0
    payload = b"x" * SIZE
    while time.monotonic() < until:
        reader, writer = await asyncio.open_connection(host, port)
        for _ in range(FRESH_EVERY):
            writer.write(payload)
            await reader.readexactly(SIZE)
            done += 1
        writer.close()
        await writer.wait_closed()
    return done


async def main() -> None:
    host, port, seconds, connections = (
        sys.argv[1],
        int(sys.argv[2]),
        float(sys.argv[3]),
        int(sys.argv[4]),
    )
    start = time.monotonic()
    until = start + seconds
    counts = await asyncio.gather(*(one(host, port, until) for _ in range(connections)))
    elapsed = time.monotonic() - start
    print(json.dumps({"requests": sum(counts), "seconds": elapsed}))


asyncio.run(main())
