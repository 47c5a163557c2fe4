"""/v1/agent/host: what Consul reports of the machine it runs on (its `debug` host info,
gopsutil's JSON field names), read from /proc and statvfs."""

from __future__ import annotations

import os
import platform
import socket
import time
from pathlib import Path
from typing import Any

__all__ = ["host_info"]


def _proc_lines(name: str) -> list[str]:
    try:
        return Path("/proc", name).read_text().splitlines()
    except OSError:
        return []


def _memory() -> dict[str, Any]:
    kib = {}
    for line in _proc_lines("meminfo"):
        key, _, rest = line.partition(":")
        kib[key] = int(rest.split()[0]) * 1024 if rest.split() else 0
    total, free = kib.get("MemTotal", 0), kib.get("MemFree", 0)
    available = kib.get("MemAvailable", free)
    used = total - available
    return {
        "total": total,
        "available": available,
        "used": used,
        "usedPercent": 100.0 * used / total if total else 0.0,
        "free": free,
        "buffers": kib.get("Buffers", 0),
        "cached": kib.get("Cached", 0),
    }


def _cpus() -> list[dict[str, Any]]:
    cpus: list[dict[str, Any]] = []
    for line in _proc_lines("cpuinfo"):
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "processor":
            cpus.append({"cpu": int(value), "cores": 1})
        elif cpus and key in ("vendor_id", "model name", "cpu MHz", "cache size"):
            field = {"vendor_id": "vendorId", "model name": "modelName"}.get(key)
            if field:
                cpus[-1][field] = value
            elif key == "cpu MHz":
                cpus[-1]["mhz"] = float(value)
            else:
                cpus[-1]["cacheSize"] = int(value.split()[0])
    return cpus


def _disk(path: str) -> dict[str, Any]:
    stat = os.statvfs(path)
    total, free = stat.f_blocks * stat.f_frsize, stat.f_bavail * stat.f_frsize
    used = total - stat.f_bfree * stat.f_frsize
    inodes_used = stat.f_files - stat.f_ffree
    return {
        "path": path,
        "total": total,
        "free": free,
        "used": used,
        "usedPercent": 100.0 * used / (used + free) if used + free else 0.0,
        "inodesTotal": stat.f_files,
        "inodesUsed": inodes_used,
        "inodesFree": stat.f_ffree,
        "inodesUsedPercent": 100.0 * inodes_used / stat.f_files if stat.f_files else 0.0,
    }


def _host() -> dict[str, Any]:
    uptime = float((_proc_lines("uptime") or ["0"])[0].split()[0])
    try:
        host_id = Path("/etc/machine-id").read_text().strip()
    except OSError:
        host_id = ""
    uname = platform.uname()
    return {
        "hostname": socket.gethostname(),
        "uptime": int(uptime),
        "bootTime": int(time.time() - uptime),
        "procs": sum(1 for p in Path("/proc").iterdir() if p.name.isdigit()),
        "os": uname.system.lower(),
        "platform": _platform(),
        "kernelVersion": uname.release,
        "kernelArch": uname.machine,
        "hostid": host_id,
    }


def _platform() -> str:
    try:
        return platform.freedesktop_os_release().get("ID", "")
    except OSError:
        return ""


def host_info() -> dict[str, Any]:
    """Consul's HostInfo: Memory, CPU, Host, Disk (of /), CollectionTime, Errors."""
    return {
        "Memory": _memory(),
        "CPU": _cpus(),
        "Host": _host(),
        "Disk": _disk("/"),
        "CollectionTime": time.time_ns(),
        "Errors": None,
    }
