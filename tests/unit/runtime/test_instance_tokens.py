"""Each service instance's catalog token, in the tokens file the catalog reads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from leapfrog.catalog._acl import AclConfig
from leapfrog.runtime.local.paths import StatePaths
from leapfrog.runtime.local.platform import (
    InstanceGrant,
    ensure_catalog_tokens,
    prune_instance_tokens,
)


def test_instances_given_tokens_at_once_all_keep_theirs(tmp_path: Path) -> None:
    # Three rollouts prepare their surge instances at once, each in a thread: every new
    # instance's token must be in the file (one saved over the others' was seen).
    paths = StatePaths(tmp_path / ".leapfrog")
    ensure_catalog_tokens(paths, {f"{s}-1": InstanceGrant(s) for s in "abc"})
    barrier = threading.Barrier(3)

    def grow(service: str) -> str:
        barrier.wait()
        return ensure_catalog_tokens(paths, {f"{service}-2": InstanceGrant(service)}).instance(
            f"{service}-2"
        )

    with ThreadPoolExecutor(3) as pool:
        secrets = list(pool.map(grow, "abc"))
    final = ensure_catalog_tokens(paths)
    assert [final.instance(f"{s}-2") for s in "abc"] == secrets
    assert all(final.instance(f"{s}-1") for s in "abc")
    prune_instance_tokens(paths, ["a-2"])
    names = {t.name for t in AclConfig.read_tokens(paths.catalog_tokens)}
    assert {n for n in names if n.startswith("instance:")} == {"instance:a-2"}


def test_the_catalog_sees_a_rewrite_of_the_same_size_at_once(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path / ".leapfrog")
    ensure_catalog_tokens(paths, {"a-2": InstanceGrant("a")})
    config = AclConfig.with_tokens_file("m" * 36, paths.catalog_tokens, anonymous_read=False)
    prune_instance_tokens(paths, [])
    ensure_catalog_tokens(paths, {"c-2": InstanceGrant("c")})  # the same size, this tick
    again = config.reloaded()
    assert again is not None
    assert "instance:c-2" in {t.name for t in again.tokens}
