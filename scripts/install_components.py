"""Install platform components (default: every registered one) into leapfrog's cache.

    .venv/bin/python scripts/install_components.py [KIND...]

What `leapfrog up` and the tests would install on first use, done once up front by
scripts/test.sh so no test spends its time limit on a download or a build (InfluxDB's Go
build takes minutes on two cores). Each install is cached: a second run takes a second.
"""

from __future__ import annotations

import sys
import time

from leapfrog.components import component, known_components
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.errors import LeapfrogError


def main(kinds: list[str]) -> int:
    known = sorted(known_components())
    unknown = [kind for kind in kinds if kind not in known]
    if unknown:
        print(f"unknown component {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    for kind in kinds or known:
        comp = component(kind)
        began = time.monotonic()
        try:
            found = comp.install(
                comp.options({}), cache_dir(), lambda line, k=kind: print(f"{k}: {line}")
            )
        except LeapfrogError as exc:
            print(f"{kind}: {exc}", file=sys.stderr)
            return 1
        if time.monotonic() - began > 1:
            print(f"{kind}: {found.version} ready in {time.monotonic() - began:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
