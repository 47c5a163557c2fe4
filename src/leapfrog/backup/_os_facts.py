"""What an OpenSearch node holds, per index: document count and an order-independent
hash of the document ids (the sum of a 128-bit sha256 prefix of each id), read through
one scroll so both describe the same point in time."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx

from leapfrog.backup.control import RunControl
from leapfrog.backup.driver import BackupError

__all__ = ["FactsStopped", "diff_indices", "index_facts", "user_indices"]

_PAGE = 5000
_MASK = (1 << 128) - 1


def checked(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 300:
        try:
            error = response.json().get("error", response.text)
            reason = error
            if isinstance(error, dict):  # the first root cause says more than "all shards failed"
                causes = error.get("root_cause") or [error]
                reason = f"{error.get('reason')}: {causes[0].get('reason')}"
        except ValueError:
            reason = response.text
        raise BackupError(f"OpenSearch {what}: HTTP {response.status_code}: {str(reason)[:300]}")
    return response.json()


def user_indices(client: httpx.Client) -> list[str]:
    """Open indices that are not system or hidden ones (names starting with a dot)."""
    params = {"format": "json", "h": "index,status"}
    rows = checked(client.get("/_cat/indices", params=params), "indices")
    return sorted(
        row["index"]
        for row in rows
        if not row["index"].startswith(".") and row.get("status") == "open"
    )


class FactsStopped(Exception):
    """`stop` said the facts are not wanted any more."""


def index_facts(
    client: httpx.Client,
    index: str,
    run: RunControl,
    stop: Callable[[], bool] | None = None,
) -> list[Any]:
    """[document count, id hash] of one index; FactsStopped between two pages when
    `stop()` says so."""
    checked(client.post(f"/{index}/_refresh"), f"refresh of {index}")
    page = checked(
        client.post(
            f"/{index}/_search",
            params={"scroll": "2m"},
            json={"size": _PAGE, "sort": ["_doc"], "_source": False},
        ),
        f"scroll of {index}",
    )
    count = 0
    total = 0
    scroll = page.get("_scroll_id")
    try:
        while hits := page["hits"]["hits"]:
            for hit in hits:
                digest = hashlib.sha256(hit["_id"].encode()).digest()
                total = (total + int.from_bytes(digest[:16], "big")) & _MASK
            count += len(hits)
            run.progressed(f"reading ids of {index}")
            if stop is not None and stop():
                raise FactsStopped(index)
            page = checked(
                client.post("/_search/scroll", json={"scroll": "2m", "scroll_id": scroll}),
                f"scroll of {index}",
            )
            scroll = page.get("_scroll_id", scroll)
    finally:
        if scroll:
            client.request("DELETE", "/_search/scroll", json={"scroll_id": scroll})
    return [count, f"{total:032x}"]


def diff_indices(expected: dict[str, Any], found: dict[str, Any]) -> list[str]:
    lines = []
    for index in sorted(set(expected) | set(found)):
        want, got = expected.get(index), found.get(index)
        if got is None:
            lines.append(f"index {index} missing")
        elif want is None:
            lines.append(f"index {index} not in the backup")
        elif want[0] != got[0]:
            lines.append(f"index {index} has {got[0]} documents, the backup had {want[0]}")
        elif want[1] != got[1]:
            lines.append(f"index {index} ids differ (hash)")
    return lines
