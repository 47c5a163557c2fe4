from __future__ import annotations

import ipaddress
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from leapfrog.runtime.local.addresses import (
    AddressBook,
    default_network,
    listening_second_octets,
)
from leapfrog.shared.errors import LeapfrogError


def test_default_network_is_loopback_and_not_127_0() -> None:
    for i in range(50):
        net = default_network(Path(f"/some/stack/{i}/.leapfrog"))
        assert net.subnet_of(ipaddress.IPv4Network("127.0.0.0/8"))
        assert not str(net).startswith("127.0.")
        assert net.prefixlen == 16


def test_addresses_are_unique_and_kept(tmp_path: Path) -> None:
    net = ipaddress.IPv4Network("127.42.0.0/16")
    book = AddressBook(tmp_path / "a.json", net)
    first = book.assign(["web-1", "web-2", "db-1"])
    assert len(set(first.values())) == 3
    assert all(not a.endswith((".0", ".1", ".255")) for a in first.values())
    again = AddressBook(tmp_path / "a.json", net).assign(["db-1", "web-3", "web-1"])
    assert again["db-1"] == first["db-1"] and again["web-1"] == first["web-1"]
    assert again["web-3"] not in first.values()


def test_network_change_starts_over(tmp_path: Path) -> None:
    AddressBook(tmp_path / "a.json", ipaddress.IPv4Network("127.42.0.0/16")).assign(["x-1"])
    other = AddressBook(tmp_path / "a.json", ipaddress.IPv4Network("127.43.0.0/24"))
    assert other.assign(["x-1"])["x-1"].startswith("127.43.0.")


def test_full_network_says_what_to_do(tmp_path: Path) -> None:
    book = AddressBook(tmp_path / "a.json", ipaddress.IPv4Network("127.44.0.0/24"))
    with pytest.raises(LeapfrogError) as info:
        book.assign([f"s-{i}" for i in range(300)])
    assert info.value.hint is not None and "larger network" in info.value.hint


def test_default_network_skips_a_busy_16(tmp_path: Path) -> None:
    state = Path("/some/stack/.leapfrog")
    free = default_network(state, busy=set)
    second = int(str(free).split(".")[1])
    moved = default_network(state, busy=lambda: {second})
    assert moved != free and int(str(moved).split(".")[1]) not in {second}
    assert moved.prefixlen == 16 and not str(moved).startswith("127.0.")
    every = set(range(16, 240))
    assert default_network(state, busy=lambda: every) == free  # nowhere free: its own


def test_a_stack_keeps_the_default_network_it_got(tmp_path: Path) -> None:
    book = tmp_path / "a.json"
    assert AddressBook.stored_network(book) is None
    AddressBook(book, ipaddress.IPv4Network("127.42.0.0/16")).assign(["x-1"])
    assert AddressBook.stored_network(book) == ipaddress.IPv4Network("127.42.0.0/16")
    AddressBook(book, ipaddress.IPv4Network("127.0.61.0/24")).assign(["x-1"])
    assert AddressBook.stored_network(book) is None  # the stack file's own: not kept


def test_listening_addresses_are_read_from_the_socket_table() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.201.3.4", 0))
        listener.listen()
        assert 201 in listening_second_octets()


def test_books_assigning_at_once_never_hand_out_one_address_twice(tmp_path: Path) -> None:
    # Three rollouts build their surge instances at once, each with a book of its own
    # read before the others saved: each new name still gets an address of its own.
    net = ipaddress.IPv4Network("127.45.0.0/24")
    AddressBook(tmp_path / "a.json", net).assign(["a-1", "b-1", "c-1"])
    books = [AddressBook(tmp_path / "a.json", net) for _ in range(3)]
    barrier = threading.Barrier(3)

    def grow(book: AddressBook, name: str) -> str:
        barrier.wait()
        return book.assign(["a-1", "b-1", "c-1", name])[name]

    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(grow, books, ["a-2", "b-2", "c-2"]))
    assert len(set(got)) == 3
    final = AddressBook(tmp_path / "a.json", net).assign(["a-2", "b-2", "c-2"])
    assert sorted(final.values()) == sorted(got)
