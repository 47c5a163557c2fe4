"""A plain service (no SDK) for the collector's tests: a plain line, a traceback, a JSON
line, then a Prometheus page on /metrics. Standard library only (runs as any user)."""

import http.server
import json
import os
import sys
import traceback

MARK = os.environ.get("MARK", "mark")


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"ok"
        if self.path == "/metrics":
            body = b"# TYPE chatty_requests_total counter\nchatty_requests_total 7\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    print(f"plain line {MARK}", flush=True)
    try:
        print(1 / 0)
    except ZeroDivisionError:
        traceback.print_exc()
    sys.stderr.flush()
    print(json.dumps({"level": "warning", "msg": f"json line {MARK}", "order": 42}), flush=True)
    server = http.server.ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
