"""Benchmark: cold `leapfrog up -d` of the platform components, against starting them by hand.

For each component (Kafka, ZooKeeper, PostgreSQL, OpenSearch, InfluxDB) alone, and for all
of them together: the wall clock of `leapfrog up -d` on a stack with a fresh state directory
(from spawning the command until it exits 0: every instance healthy and set up), against
starting the same program with the same configuration by hand (the component's own files,
init commands and argv, run directly as the same user) and polling it with the program's
own tool until it answers. Together, the by-hand side starts all programs at once.

Targets: all together <= 1.2 x the slowest component alone (independent components
start in parallel); the ratios to the by-hand starts are leapfrog's overhead.

Run as `.venv/bin/python bench/components_up.py [--rounds 2] [--json]`. Installs are
done once first, untimed (they are cached). Everything is bounded in time, stays on
loopback and is cleaned up (leapfrog down, then a kill of anything this run started)
even on Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from _components_byhand import HandRun, hand_round, plan_run
from _components_report import render, summarize
from _components_stacks import BenchError, Stacks
from leapfrog.components import component
from leapfrog.components.base import Installation
from leapfrog.shared.cache import cache_dir
from leapfrog.shared.errors import LeapfrogError
from leapfrog.shared.users import ensure_user

HERE = Path(__file__).resolve().parent
DEFAULT_CLI = HERE.parent / ".venv" / "bin" / "leapfrog"
KINDS = ("kafka", "zookeeper", "postgres", "opensearch", "influxdb")
APP_USER = "leapfrog"  # leapfrog's default local.app_user
# One /24 per stack (leapfrog) and one address per component by hand, so that a round
# never meets what an earlier one might have left.
LEAPFROG_NETWORK = "127.85.{}.0/24"
HAND_ADDRESS = "127.86.{}.{}"
CATALOG_ADDRESS = "127.87.0.1"

err = Console(stderr=True, highlight=False)
Say = Callable[[str], None]


def install_all(kinds: Sequence[str], say: Say) -> tuple[dict[str, Installation], dict[str, float]]:
    """Each component's install, once and untimed: later runs find it in the cache."""
    installations, seconds = {}, {}
    for kind in kinds:
        comp = component(kind)
        began = time.perf_counter()
        installations[kind] = comp.install(comp.options({}), cache_dir(), say)
        seconds[kind] = time.perf_counter() - began
        say(f"install {kind} {installations[kind].version}: {seconds[kind]:.2f}s (untimed)")
    return installations, seconds


class Bench:
    def __init__(self, stacks: Stacks, installations: dict[str, Installation], say: Say) -> None:
        self.stacks, self.installations, self.say = stacks, installations, say
        self.problems: list[str] = []
        self.run_as: tuple[int, int] | None = None
        if os.geteuid() == 0:
            user = ensure_user(APP_USER)
            self.run_as = (user.uid, user.gid)
        self.labels = 0

    def _label(self, side: str, what: str) -> str:
        self.labels += 1
        return f"{self.labels:02d}-{side}-{what}"

    def leapfrog(self, kinds: Sequence[str], what: str, catalog: bool = False) -> dict[str, Any]:
        network = LEAPFROG_NETWORK.format(1 + KINDS.index(kinds[0]) if len(kinds) == 1 else 9)
        if catalog:
            network = LEAPFROG_NETWORK.format(10)
        stack = self.stacks.write(
            self._label("lf", what), list(kinds), network, CATALOG_ADDRESS if catalog else None
        )
        try:
            result = self.stacks.up(stack, len(kinds) + catalog)
        finally:
            self.problems += self.stacks.down(stack)
        return {"seconds": result.seconds, "phases": result.phases}

    def by_hand(self, kinds: Sequence[str], what: str) -> dict[str, Any]:
        base = self.stacks.new_dir(self._label("hand", what))
        runs: list[HandRun] = [
            plan_run(
                kind,
                self.installations[kind],
                base,
                HAND_ADDRESS.format(1 + KINDS.index(kind), 2),
                self.run_as,
            )
            for kind in kinds
        ]
        try:
            seconds = hand_round(runs, self.stacks.marker)
        except RuntimeError as exc:
            raise BenchError(str(exc)) from None
        phases = {
            run.kind: {
                "init_done": run.init_done,
                "spawned": run.spawned,
                "ready": run.ready,
                "setup_s": run.setup_s,
            }
            for run in runs
        }
        return {"seconds": seconds, "phases": phases}


def run(args: argparse.Namespace, stacks: Stacks, say: Say) -> dict[str, Any]:
    kinds: list[str] = args.components
    load_before = os.getloadavg()
    installations, install_s = install_all(kinds, say)
    bench = Bench(stacks, installations, say)
    together = len(kinds) > 1
    for i in range(args.warmup):
        say(f"warm-up {i + 1}/{args.warmup}: all by hand, then leapfrog (not counted)")
        bench.by_hand(kinds, "warmup")
        bench.leapfrog(kinds, "warmup")

    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def measure(r: int, row: str, side: str, kinds_: Sequence[str], catalog: bool = False) -> None:
        what = row.replace(" ", "-").replace("+", "")
        if side == "hand":
            sample = bench.by_hand(kinds_, what)
        else:
            sample = bench.leapfrog(kinds_, what, catalog)
        rows.setdefault(row, {}).setdefault(side, []).append(sample)
        say(f"round {r + 1}/{args.rounds}: {row}, {side}: {sample['seconds']:.2f}s")

    for r in range(args.rounds):
        # Alternate which side goes first, so neither always meets a warmer machine.
        sides = ("hand", "leapfrog") if r % 2 == 0 else ("leapfrog", "hand")
        for kind in kinds:
            for side in sides:
                measure(r, kind, side, [kind])
        if together:
            for side in sides:
                measure(r, "together", side, kinds)
        if args.catalog:
            measure(r, "together + catalog", "leapfrog", kinds, catalog=True)

    return {
        "components": kinds,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "install_s": install_s,
        "versions": {kind: inst.version for kind, inst in installations.items()},
        "samples": rows,
        "summary": summarize(kinds, rows),
        "problems": bench.problems,
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_before": load_before,
            "cli": str(stacks.cli),
            "run_as": APP_USER if os.geteuid() == 0 else "the current user",
            "pycache": stacks.pycache,
        },
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds of each side (2)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (1)")
    parser.add_argument(
        "--components",
        nargs="+",
        choices=KINDS,
        default=list(KINDS),
        metavar="KIND",
        help="components to measure, alone and together (all five)",
    )
    parser.add_argument(
        "--catalog",
        action="store_true",
        help="also time `up -d` of all of them with the stack's catalog on (an extra row)",
    )
    parser.add_argument(
        "--pycache",
        choices=("warm", "inherit"),
        default="warm",
        help="warm: leapfrog keeps a bytecode cache in the temp dir, filled by the warm-up "
        "(default); inherit: as the environment says",
    )
    parser.add_argument("--cli", type=Path, default=DEFAULT_CLI, help="the leapfrog command")
    parser.add_argument("--json", action="store_true", help="print a JSON summary, no table")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, state)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1, --warmup at least 0")
    args.components = [kind for kind in KINDS if kind in args.components]  # once each
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.cli.exists():
        err.print(f"[red]error:[/] {args.cli} not found (run `make bootstrap`, or pass --cli)")
        return 2
    stacks = Stacks.create(args.cli.resolve(), args.pycache)

    def say(text: str) -> None:
        err.print(f"[dim]{text}[/]")

    say(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.keep:
        say(f"workspace: {stacks.root}")
    code = 0
    result: dict[str, Any] | None = None
    try:
        result = run(args, stacks, say)
    except BenchError as exc:
        err.print(f"[red]error:[/] {exc}")
        code = 1
    except KeyboardInterrupt:
        err.print("interrupted; cleaning up")
        code = 130
    except LeapfrogError as exc:  # an install failed: Java, Maven or PostgreSQL missing
        err.print(f"[red]error:[/] {exc}" + (f"\n  hint: {exc.hint}" if exc.hint else ""))
        code = 2
    finally:
        leftovers = stacks.cleanup(keep=args.keep)
        for problem in leftovers:
            err.print(f"[yellow]problem:[/] {problem}")
    if result is not None:
        result["problems"] += leftovers
        result["environment"]["load_after"] = os.getloadavg()
        if result["problems"] and code == 0:
            code = 1  # measured, but something was left running or failed to stop
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            # Piped output (make bench | tee) gets room for the tables, not rich's 80 columns.
            wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
            render(result, Console(highlight=False, width=120 if wide else None))
    return code


if __name__ == "__main__":
    sys.exit(main())
