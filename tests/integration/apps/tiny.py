"""A tiny HTTP service for supervisor tests. Standard library only (runs as any user).

Environment: HOST, PORT; START_DELAY seconds before listening; IGNORE_TERM=1 ignores
SIGTERM; FAIL_HEALTH=1 (or a file `fail` in the data dir) answers 503 on /health.
Writes "<event> <time>" lines to $LEAPFROG_DATA_DIR/events so tests can see when
things happened.
"""

import http.server
import os
import signal
import sys
import time

DATA = os.environ.get("LEAPFROG_DATA_DIR", ".")


def note(event: str) -> None:
    with open(os.path.join(DATA, "events"), "a") as handle:
        handle.write(f"{event} {time.time():.6f} {os.getpid()}\n")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        failing = os.environ.get("FAIL_HEALTH") == "1" or os.path.exists(f"{DATA}/fail")
        if self.path == "/health" and failing:
            self.send_response(503)
        else:
            self.send_response(200)
        body = os.uname().nodename.encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    note("start")
    if os.environ.get("IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: (note("term"), sys.exit(0)))
    time.sleep(float(os.environ.get("START_DELAY", "0")))
    server = http.server.HTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    note("listen")
    print(f"listening on {os.environ['HOST']}:{os.environ['PORT']}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
