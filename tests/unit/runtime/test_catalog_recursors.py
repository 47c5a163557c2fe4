"""Where the catalog's DNS forwards outside names: the stack file's `recursors`, else the
host's nameservers but the catalog itself."""

from __future__ import annotations

from pathlib import Path

from leapfrog.runtime.local.platform import catalog_recursors
from leapfrog.spec.models import CatalogSettings


def _conf(tmp_path: Path, *servers: str) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text("".join(f"nameserver {s}\n" for s in servers))
    return path


def test_the_host_nameservers_by_default_but_the_catalog_itself(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "127.0.0.1", "10.255.255.53", "127.0.0.53")
    on_53 = CatalogSettings(dns="127.0.0.1:53")
    assert catalog_recursors(on_53, conf) == ["10.255.255.53", "127.0.0.53"]
    # On another port the catalog is not the host's 127.0.0.1:53.
    assert catalog_recursors(CatalogSettings(), conf) == [
        "127.0.0.1",
        "10.255.255.53",
        "127.0.0.53",
    ]


def test_the_stack_files_recursors_win_and_none_means_none(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "10.255.255.53")
    given = CatalogSettings(recursors=["10.0.0.2:5353"])
    assert catalog_recursors(given, conf) == ["10.0.0.2:5353"]
    assert catalog_recursors(CatalogSettings(recursors=[]), conf) == []
