"""free_port: never the same port twice in one process, nor one another live process holds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from leapfrog.shared import ports
from leapfrog.shared.ports import free_port, port_is_free


def test_free_port_never_hands_out_a_port_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_a_port_handed_out_is_bindable_and_then_held() -> None:
    port = free_port()
    assert port_is_free("127.0.0.1", port)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert not port_is_free("127.0.0.1", port)


def test_a_port_claimed_by_another_live_process_is_not_handed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "_CLAIMS", tmp_path)
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from leapfrog.shared import ports; "
            f"ports._CLAIMS = Path({str(tmp_path)!r}); "
            "print(ports.free_port('127.0.0.1'), flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdin is not None
    taken = int(other.stdout.readline())
    try:
        assert not ports._claim("127.0.0.1", taken)
    finally:
        other.stdin.close()
        other.wait(10)
    assert not (tmp_path / f"127.0.0.1:{taken}").exists()  # released at its exit
    assert ports._claim("127.0.0.1", taken)


def test_a_claim_of_a_dead_process_is_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "_CLAIMS", tmp_path)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "127.0.0.1:40001").write_text(str(dead.pid))
    assert ports._claim("127.0.0.1", 40001)
    assert (tmp_path / "127.0.0.1:40001").read_text() == str(os.getpid())


def test_ports_come_from_outside_the_kernels_ephemeral_range() -> None:
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    drawn = [free_port() for _ in range(50)]
    assert not [p for p in drawn if low <= p <= high]
    assert all(p in ports._DRAWN for p in drawn)


def test_a_port_in_use_is_not_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setattr(ports, "_DRAWN", range(taken, taken + 1))
        monkeypatch.setattr(ports, "_ephemeral", lambda: range(1, 2))
        # The one port drawable is in use: the kernel's choice, which is another.
        assert free_port() != taken


def test_with_the_ephemeral_range_over_the_drawn_one_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ports, "_ephemeral", lambda: range(1024, 65536))
    assert ports._drawn_ports() == []
    assert free_port() > 0
