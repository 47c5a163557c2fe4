"""Medians, ratios and tables for bench/components_up.py.

Samples come in as rows ("kafka", ..., "together", "together + catalog"), each with a
list of samples per side ("hand", "leapfrog"); a sample is {"seconds", "phases"}.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["RATIO_TARGET", "render", "summarize"]

RATIO_TARGET = 1.2
Rows = dict[str, dict[str, list[dict[str, Any]]]]


def _stats(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    runs = [s["seconds"] for s in samples]
    return {"runs_s": runs, "median_s": statistics.median(runs), "min_s": min(runs)}


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _leapfrog_phases(samples: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per instance: when init began, how long it took, and start until healthy."""
    names = sorted({name for s in samples for name in s["phases"]})
    result = {}
    for name in names:
        stamps = [s["phases"].get(name, {}) for s in samples]

        def gap(later: str, earlier: str, stamps: list[dict[str, float]] = stamps) -> float | None:
            values = [p[later] - p[earlier] for p in stamps if later in p and earlier in p]
            return _median(values)

        result[name.removesuffix("-1")] = {
            "until_init": _median([p.get("preparing") for p in stamps]),
            "init": gap("started", "preparing"),
            "start_to_ready": gap("healthy", "started"),
            "ready_at": _median([p.get("healthy") for p in stamps]),
        }
    return result


def _hand_phases(samples: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    kinds = sorted({kind for s in samples for kind in s["phases"]})
    result = {}
    for kind in kinds:
        phases = [s["phases"][kind] for s in samples if kind in s["phases"]]
        result[kind] = {
            "until_init": 0.0,
            "init": _median([p["init_done"] for p in phases]),
            "start_to_ready": _median([p["ready"] - p["spawned"] for p in phases]),
            "ready_at": _median([p["ready"] for p in phases]),
            "setup_after": _median([p["setup_s"] for p in phases]),
        }
    return result


def summarize(kinds: Sequence[str], rows: Rows) -> dict[str, Any]:
    summary: dict[str, Any] = {"rows": {}, "phases": {}}
    for row, sides in rows.items():
        entry = {side: _stats(samples) for side, samples in sides.items()}
        if "hand" in entry and "leapfrog" in entry:
            entry["ratio"] = entry["leapfrog"]["median_s"] / entry["hand"]["median_s"]
        summary["rows"][row] = entry
        summary["phases"][row] = {
            "hand": _hand_phases(sides.get("hand", [])),
            "leapfrog": _leapfrog_phases(sides.get("leapfrog", [])),
        }
    together = summary["rows"].get("together")
    if together is not None:
        alone = {kind: summary["rows"][kind] for kind in kinds}
        slowest = max(kinds, key=lambda k: alone[k]["leapfrog"]["median_s"])
        slowest_hand = max(kinds, key=lambda k: alone[k]["hand"]["median_s"])
        ratio = together["leapfrog"]["median_s"] / alone[slowest]["leapfrog"]["median_s"]
        summary["together"] = {
            "slowest_alone": slowest,
            "vs_slowest_alone": ratio,
            "target_ratio": RATIO_TARGET,
            "met": ratio <= RATIO_TARGET,
            "vs_hand_parallel": together["ratio"],
            # What starting everything at once costs on this machine, with no leapfrog.
            "hand_parallel_vs_slowest_hand": together["hand"]["median_s"]
            / alone[slowest_hand]["hand"]["median_s"],
        }
    catalog = summary["rows"].get("together + catalog")
    if catalog is not None and together is not None:
        catalog["vs_together"] = catalog["leapfrog"]["median_s"] / together["leapfrog"]["median_s"]
    return summary


def _s(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _verdict(met: bool) -> str:
    return "[green]✓ met[/]" if met else "[red]✗ missed[/]"


def render(result: dict[str, Any], console: Console) -> None:
    summary = result["summary"]
    table = Table(
        title=f"cold up (fresh state dir, installs cached), {result['rounds']} round(s), seconds",
        title_justify="left",
    )
    for column in ("", "by hand", "leapfrog up -d", "leapfrog / by hand"):
        table.add_column(column, justify="left" if not column else "right")
    table.add_column("rounds: by hand | leapfrog")
    for row, entry in summary["rows"].items():
        hand, lf = entry.get("hand"), entry.get("leapfrog")
        ratio = entry.get("ratio")
        runs = " ".join(f"{t:.2f}" for t in hand["runs_s"]) if hand else "-"
        runs += " | " + (" ".join(f"{t:.2f}" for t in lf["runs_s"]) if lf else "-")
        label = f"{row} ({result['versions'][row]})" if row in result["versions"] else row
        if row == "together + catalog" and "vs_together" in entry:
            ratio_text = f"{entry['vs_together']:.2f}× of together"
        else:
            ratio_text = f"{ratio:.2f}×" if ratio is not None else ""
        table.add_row(
            label,
            _s(hand["median_s"]) if hand else "",
            _s(lf["median_s"]) if lf else "",
            ratio_text,
            runs,
            style="bold" if row == "together" else "",
        )
    console.print(table)
    together = summary.get("together")
    if together is not None:
        console.print(
            f"together / slowest alone ({together['slowest_alone']}), leapfrog: "
            f"[bold]{together['vs_slowest_alone']:.2f}×[/] "
            f"(target ≤ {together['target_ratio']:g}×) {_verdict(together['met'])}"
        )
        console.print(
            f"together, leapfrog / all by hand in parallel: {together['vs_hand_parallel']:.2f}×; "
            f"by hand, together / slowest alone: "
            f"{together['hand_parallel_vs_slowest_hand']:.2f}× (the machine's own cost of "
            "starting them at once)"
        )
    console.print()
    _render_phases(summary["phases"], console)
    installs = ", ".join(f"{k} {v:.2f}s" for k, v in result["install_s"].items())
    console.print(f"[dim]installs, once before the rounds (untimed, from cache): {installs}[/]")
    env = result["environment"]
    loads = [" ".join(f"{x:.2f}" for x in env[k]) for k in ("load_before", "load_after")]
    console.print(f"[dim]load average before: {loads[0]}; after: {loads[1]}[/]")
    for problem in result["problems"]:
        console.print(f"[yellow]problem:[/] {problem}")


def _render_phases(phases: dict[str, Any], console: Console) -> None:
    table = Table(
        title="where the time goes (medians, seconds from the start of the run)",
        title_justify="left",
    )
    table.add_column("run")
    table.add_column("instance")
    table.add_column("side")
    for column in ("until init", "init", "start → ready", "ready at", "setup after"):
        table.add_column(column, justify="right")
    for row, sides in phases.items():
        for side, label in (("hand", "by hand"), ("leapfrog", "leapfrog")):
            for name, p in sides[side].items():
                table.add_row(
                    row,
                    name,
                    label,
                    _s(p["until_init"]),
                    _s(p["init"]),
                    _s(p["start_to_ready"]),
                    _s(p["ready_at"]),
                    _s(p.get("setup_after")),
                )
    console.print(table)
    console.print(
        "[dim]leapfrog's stamps are those `up -d` prints (from the CLI's start): until init = "
        "CLI, stack, installs from cache, supervisor; start → ready includes probe latency "
        "and setup. By hand: init = files + init commands; setup after = the contract's setup "
        "step, run after the timed window.[/]"
    )
