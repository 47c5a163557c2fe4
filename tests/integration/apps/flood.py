"""Writes COUNT numbered lines in paced bursts once the file `go` is in its data dir,
then `done` and sleeps: a chatty process for the log rotation tests."""

import os
import sys
import time

DATA = os.environ.get("LEAPFROG_DATA_DIR", ".")
count = int(os.environ.get("COUNT", "6000"))
pace = float(os.environ.get("PACE", "0.05"))
while not os.path.exists(os.path.join(DATA, "go")):
    time.sleep(0.05)
for start in range(0, count, 100):
    sys.stdout.write("".join(f"line {n:08d} {'z' * 56}\n" for n in range(start, start + 100)))
    sys.stdout.flush()
    time.sleep(pace)
print("done", flush=True)
time.sleep(3600)
