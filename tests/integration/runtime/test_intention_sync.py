"""Writing the stack's intentions into a real catalog (`runtime.local.intentions`):
leapfrog's own are added, corrected and removed to match the callers; intentions anyone
else made are never touched; a catalog that does not answer is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from leapfrog.runtime.local.intentions import CatalogIntentions
from leapfrog.shared.errors import LeapfrogError
from leapfrog.testing import CatalogProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[CatalogProcess]:
    with CatalogProcess(tmp_path / "data", "--default-intention-policy", "deny") as proc:
        yield proc


def listed(catalog: CatalogProcess) -> dict[tuple[str, str], tuple[str, bool]]:
    """(source, destination) -> (action, made by leapfrog)."""
    found = httpx.get(f"http://{catalog.http_addr}/v1/connect/intentions").json()
    return {
        (i["SourceName"], i["DestinationName"]): (
            i["Action"],
            (i.get("Meta") or {}).get("managed-by") == "leapfrog",
        )
        for i in found
    }


def put(catalog: CatalogProcess, source: str, destination: str, body: dict[str, object]) -> None:
    answer = httpx.put(
        f"http://{catalog.http_addr}/v1/connect/intentions/exact",
        params={"source": source, "destination": destination},
        json=body,
    )
    assert answer.status_code == 200, answer.text


def test_leapfrogs_intentions_follow_the_callers_and_others_stay(
    catalog: CatalogProcess,
) -> None:
    ixns = CatalogIntentions(catalog.http_addr, None)
    try:
        first = ixns.sync([("web", "api"), ("api", "db")])
        assert first.summary() == ["allow web => api", "allow api => db"]
        assert listed(catalog) == {("web", "api"): ("allow", True), ("api", "db"): ("allow", True)}
        assert ixns.sync([("web", "api"), ("api", "db")]).summary() == []

        # Someone else's intentions: one on a pair the stack declares, one elsewhere.
        put(catalog, "worker", "api", {"Action": "deny"})
        put(catalog, "ops", "*", {"Action": "allow", "Meta": {"team": "ops"}})
        # And leapfrog's own turned to deny by hand: written back as declared.
        put(catalog, "web", "api", {"Action": "deny", "Meta": {"managed-by": "leapfrog"}})

        second = ixns.sync([("web", "api"), ("worker", "api")])
        assert second.summary() == [
            "allow web => api",
            "remove api => db",
            "worker => api: an intention not made by leapfrog stays in force",
        ]
        assert listed(catalog) == {
            ("web", "api"): ("allow", True),
            ("worker", "api"): ("deny", False),
            ("ops", "*"): ("allow", False),
        }

        assert ixns.sync([]).summary() == ["remove web => api"]
        assert listed(catalog) == {
            ("worker", "api"): ("deny", False),
            ("ops", "*"): ("allow", False),
        }
    finally:
        ixns.close()


def test_a_catalog_that_does_not_answer_is_a_clear_error() -> None:
    ixns = CatalogIntentions(f"127.0.0.1:{free_port()}", None, timeout=1)
    try:
        with pytest.raises(LeapfrogError) as caught:
            ixns.sync([("web", "api")])
    finally:
        ixns.close()
    assert "cannot reach the catalog" in caught.value.message
    assert caught.value.hint is not None and "leapfrog status" in caught.value.hint
