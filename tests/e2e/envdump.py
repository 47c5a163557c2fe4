"""A service that writes the environment leapfrog gave it to its data dir, then serves
/health: the test reads what a real service would use to reach the platform."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WANTED = ("KAFKA_", "DATABASE_URL", "MESSAGE_DB_URL", "PG", "ZOOKEEPER_", "CONSUL_", "LEAPFROG_")
seen = {k: v for k, v in os.environ.items() if k.startswith(WANTED)}
target = Path(os.environ["LEAPFROG_DATA_DIR"]) / "env.json"
target.write_text(json.dumps(seen))


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Health).serve_forever()
