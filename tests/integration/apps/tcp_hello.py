"""A TCP service that answers `hello` to every connection. Standard library only, no
name lookups (an isolated instance reaches no resolver)."""

import os
import socketserver


class Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"hello")


socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
server = socketserver.ThreadingTCPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
server.serve_forever()
