"""The server of bench/netns.py: answers each 64-byte request with 64 bytes, on as many
connections as come. Standard library only, no name lookups."""

import asyncio
import os

SIZE = 64


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.readexactly(SIZE)
            writer.write(data)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(serve, os.environ["HOST"], int(os.environ["PORT"]))
    async with server:
        await server.serve_forever()


asyncio.run(main())
