"""pinger: calls every hello instance in turn and logs what they answer.

It finds them through HELLO_ENDPOINTS, which leapfrog sets because pinger depends on
hello; later it will discover them through the service catalog instead.
"""

import itertools
import os
import signal
import sys
import time
import urllib.request

ENDPOINTS = [e for e in os.environ.get("HELLO_ENDPOINTS", "").split(",") if e]
EVERY = float(os.environ.get("PING_EVERY", "2"))


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if not ENDPOINTS:
        sys.exit("HELLO_ENDPOINTS is empty: pinger must depend on hello")
    print(f"pinging {', '.join(ENDPOINTS)} every {EVERY:g}s", flush=True)
    for endpoint in itertools.cycle(ENDPOINTS):
        try:
            with urllib.request.urlopen(f"http://{endpoint}/", timeout=2) as answer:
                print(f"{endpoint} -> {answer.read().decode().strip()}", flush=True)
        except OSError as exc:
            print(f"{endpoint} -> error: {exc}", flush=True)
        time.sleep(EVERY)


if __name__ == "__main__":
    main()
