"""The summary of bench/catalog.py: figures, ratios and targets, as JSON and as rich tables."""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

from rich.console import Console
from rich.table import Table

from _catalog_load import Registrations, WatchResult

__all__ = ["render", "summarize"]

REGS_TARGET = 2_000.0  # registrations per second, at least
P99_TARGET_MS = 50.0  # notify latency p99, at most
P99_RATIO_TARGET = 1.2  # notify latency p99, at most this times the bare server's
RSS_TARGET_MB = 150.0  # VmRSS with the instances registered, at most


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def _registrations(regs: Registrations) -> dict[str, Any]:
    return {
        "requested": regs.requested,
        "done": regs.done,
        "seconds": regs.seconds,
        "per_second": regs.rate,
        "latency_p50_ms": percentile(regs.latencies, 50) * 1000,
        "latency_p99_ms": percentile(regs.latencies, 99) * 1000,
        "errors": regs.errors,
        "first_error": regs.first_error,
        "timed_out": regs.timed_out,
    }


def _watch(watch: WatchResult) -> dict[str, Any]:
    pooled = [t for r in watch.rounds for t in r.latencies]
    return {
        "p50_ms": percentile(pooled, 50) * 1000,
        "p99_ms": percentile(pooled, 99) * 1000,
        "max_ms": max(pooled, default=0.0) * 1000,
        "round_p99_ms": [percentile(r.latencies, 99) * 1000 for r in watch.rounds],
        "median_round_p99_ms": statistics.median(
            percentile(r.latencies, 99) * 1000 for r in watch.rounds
        ),
        "ack_ms": [r.ack * 1000 for r in watch.rounds],
        "server_cpu_ms": [r.cpu_ms for r in watch.rounds],
        "client_cpu_ms": [r.client_cpu_ms for r in watch.rounds],
        "answered": sum(len(r.latencies) for r in watch.rounds),
        "missing": sum(r.missing for r in watch.rounds),
        "wrong": sum(r.wrong for r in watch.rounds),
        "early": sum(r.early for r in watch.rounds),
        "spurious": sum(r.spurious for r in watch.rounds),
        "unsettled_rounds": sum(1 for r in watch.rounds if not r.settled),
    }


def _side(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "registrations": _registrations(raw["registrations"]),
        "watch": _watch(raw["watch"]),
        "memory": raw["memory"],
        "exit_status": raw["exit_status"],
    }


def _problems(label: str, side: dict[str, Any]) -> list[str]:
    regs, watch = side["registrations"], side["watch"]
    found = []
    if regs["errors"]:
        found.append(f"{label}: {regs['errors']} registrations failed, e.g. {regs['first_error']}")
    if regs["timed_out"]:
        found.append(f"{label}: registrations stopped at the time limit ({regs['done']} done)")
    for key, what in (
        ("missing", "watchers not answered within the round's limit"),
        ("wrong", "answers without a higher index or without the change"),
        ("early", "watchers answered before the change"),
        ("spurious", "watchers of other services woken"),
        ("unsettled_rounds", "rounds where the server never went idle before the change"),
    ):
        if watch[key]:
            found.append(f"{label}: {watch[key]} {what}")
    if side["exit_status"] != 0:  # None: it had to be killed
        found.append(f"{label}: exit status {side['exit_status']} on SIGTERM")
    return found


def _target(value: float, target: float, met: bool) -> dict[str, Any]:
    return {"value": value, "target": target, "met": met}


def summarize(
    args: argparse.Namespace, catalog_raw: dict[str, Any], bare_raw: dict[str, Any], body: int
) -> dict[str, Any]:
    catalog, bare = _side(catalog_raw), _side(bare_raw)
    regs, p99 = catalog["registrations"]["per_second"], catalog["watch"]["p99_ms"]
    rss = catalog["memory"]["registered_mb"]
    notify_ratio = catalog["watch"]["median_round_p99_ms"] / max(
        bare["watch"]["median_round_p99_ms"], 1e-9
    )
    return {
        "setup": {
            "instances": args.instances,
            "per_service": args.per_service,
            "check": "none" if args.no_check else "TTL",
            "connections": args.connections,
            "watchers": args.watchers,
            "other_watchers": args.other_watchers,
            "rounds": args.rounds,
            "interleaved": True,
            "bare_fsyncs": not args.bare_no_fsync,
            "pinned": args.pin,
            "watched_body_bytes": body,
        },
        "catalog": catalog,
        "baseline": bare,
        "ratios": {
            "registrations_per_second": regs / max(bare["registrations"]["per_second"], 1e-9),
            "notify_p99": catalog["watch"]["median_round_p99_ms"]
            / max(bare["watch"]["median_round_p99_ms"], 1e-9),
            "notify_p99_pooled": p99 / max(bare["watch"]["p99_ms"], 1e-9),
            "notify_p99_rounds": [
                c / max(b, 1e-9)
                for c, b in zip(
                    catalog["watch"]["round_p99_ms"], bare["watch"]["round_p99_ms"], strict=True
                )
            ],
        },
        "targets": {
            "registrations_per_second": _target(regs, REGS_TARGET, regs >= REGS_TARGET),
            "notify_p99_ms": _target(p99, P99_TARGET_MS, p99 <= P99_TARGET_MS),
            "notify_p99_ratio": _target(
                notify_ratio, P99_RATIO_TARGET, notify_ratio <= P99_RATIO_TARGET
            ),
            "registered_rss_mb": _target(rss, RSS_TARGET_MB, rss <= RSS_TARGET_MB),
        },
        "problems": _problems("catalog", catalog) + _problems("baseline", bare),
    }


def _verdict(met: bool) -> str:
    return "[green]✓ met[/]" if met else "[red]✗ missed[/]"


def render(result: dict[str, Any], console: Console) -> None:
    setup, cat, base = result["setup"], result["catalog"], result["baseline"]
    regs = Table(
        title=f"registrations: {setup['instances']:,} instances ({setup['per_service']} a "
        f"service, {setup['check']} check) over {setup['connections']} keep-alive connections",
        title_justify="left",
    )
    for column in ("", "done", "seconds", "per second", "p50", "p99", "errors"):
        regs.add_column(column, justify="left" if not column else "right")
    for label, side in (("bare asyncio", base), ("catalog", cat)):
        r = side["registrations"]
        regs.add_row(
            label,
            f"{r['done']:,}",
            f"{r['seconds']:.2f}",
            f"{r['per_second']:,.0f}",
            f"{r['latency_p50_ms']:.1f} ms",
            f"{r['latency_p99_ms']:.1f} ms",
            str(r["errors"]),
        )
    console.print(regs)
    console.print(f"catalog / bare: [bold]{result['ratios']['registrations_per_second']:.2f}×[/]\n")

    watch = Table(
        title=f"notify latency: {setup['watchers']:,} watchers of one service "
        f"(+{setup['other_watchers']} on others), {setup['rounds']} changes, "
        f"answers of {setup['watched_body_bytes']:,} bytes, rounds interleaved; the bare "
        f"server {'fsyncs each change first' if setup['bare_fsyncs'] else 'does not fsync'}",
        title_justify="left",
    )
    for column in (
        "",
        "p50",
        "p99",
        "max",
        "by round",
        "ack",
        "CPU: server",
        "client",
        "others woken",
    ):
        watch.add_column(column, justify="left" if column in ("", "by round") else "right")
    for label, side in (("bare asyncio", base), ("catalog", cat)):
        w = side["watch"]
        watch.add_row(
            label,
            f"{w['p50_ms']:.1f} ms",
            f"{w['p99_ms']:.1f} ms",
            f"{w['max_ms']:.1f} ms",
            " ".join(f"{t:.0f}" for t in w["round_p99_ms"]),
            f"{percentile(w['ack_ms'], 50):.1f} ms",
            f"{percentile(w['server_cpu_ms'], 50):.0f} ms",
            f"{percentile(w['client_cpu_ms'], 50):.0f} ms",
            str(w["spurious"]),
        )
    console.print(watch)
    ratios = result["ratios"]
    console.print(
        f"median round p99: catalog {cat['watch']['median_round_p99_ms']:.1f} ms, "
        f"bare {base['watch']['median_round_p99_ms']:.1f} ms: catalog / bare "
        f"[bold]{ratios['notify_p99']:.2f}×[/] (target ≤ {P99_RATIO_TARGET}×); "
        f"round by round {' '.join(f'{r:.2f}' for r in ratios['notify_p99_rounds'])}; "
        f"pooled p99 {ratios['notify_p99_pooled']:.2f}×\n"
    )

    mem = Table(title="server resident memory (VmRSS, MiB)", title_justify="left")
    for column in ("", "empty", f"{setup['instances']:,} instances", "delta", "+ watchers", "peak"):
        mem.add_column(column, justify="left" if not column else "right")
    for label, side in (("bare asyncio", base), ("catalog", cat)):
        m = side["memory"]
        mem.add_row(
            label,
            f"{m['empty_mb']:.1f}",
            f"{m['registered_mb']:.1f}",
            f"{m['registered_mb'] - m['empty_mb']:+.1f}",
            f"{m['watchers_mb']:.1f}",
            f"{m['peak_mb']:.1f}",
        )
    console.print(mem)
    console.print()

    summary = Table(title="targets (issue 3)", title_justify="left")
    for column in ("", "catalog", "target", ""):
        summary.add_column(column)
    t = result["targets"]
    summary.add_row(
        "registrations / s",
        f"{t['registrations_per_second']['value']:,.0f}",
        f"≥ {t['registrations_per_second']['target']:,.0f}",
        _verdict(t["registrations_per_second"]["met"]),
    )
    summary.add_row(
        "notify p99",
        f"{t['notify_p99_ms']['value']:.1f} ms",
        f"≤ {t['notify_p99_ms']['target']:g} ms",
        _verdict(t["notify_p99_ms"]["met"]),
    )
    summary.add_row(
        f"VmRSS with {setup['instances']:,} instances",
        f"{t['registered_rss_mb']['value']:.1f} MiB",
        f"≤ {t['registered_rss_mb']['target']:g} MB",
        _verdict(t["registered_rss_mb"]["met"]),
    )
    summary.add_row(
        "notify p99 / bare's (median round)",
        f"{t['notify_p99_ratio']['value']:.2f}×",
        f"≤ {t['notify_p99_ratio']['target']:g}×",
        _verdict(t["notify_p99_ratio"]["met"]),
    )
    console.print(summary)
    for problem in result["problems"]:
        console.print(f"[yellow]problem:[/] {problem}")
