"""discover() and ServiceClient against the real catalog and real instances."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from leapfrog.service import ConsulAgent, Discovery, ServiceClient
from leapfrog.testing import CatalogProcess, wait_until
from tests.integration.service.conftest import catalog_health


def test_discovery_follows_the_healthy_set_and_the_client_spreads(
    catalog: CatalogProcess, sdk: Any
) -> None:
    one, two = sdk("pool", "pool-1"), sdk("pool", "pool-2")
    wait_until(lambda: len(catalog_health(catalog, "pool")) == 2, what="both registered")
    wait_until(lambda: set(catalog_health(catalog, "pool").values()) == {"passing"}, what="passing")

    async def scenario() -> None:
        discovery = Discovery(ConsulAgent(f"http://{catalog.http_addr}"), wait=5)
        found = await discovery.instances("pool")
        assert [i.id for i in found] == ["pool-1", "pool-2"]
        assert {i.port for i in found} == {one.port, two.port}
        client = ServiceClient("pool", discovery)
        answers = [(await client.get("/")).text for _ in range(4)]
        assert sorted(answers) == ["pool-1", "pool-1", "pool-2", "pool-2"]
        changed = asyncio.create_task(discovery.changed("pool"))
        await asyncio.sleep(0.2)
        two.signal(signal.SIGTERM)
        after = await asyncio.wait_for(changed, 10)
        assert [i.id for i in after] == ["pool-1"]
        assert {(await client.get("/")).text for _ in range(3)} == {"pool-1"}
        await client.aclose()
        await discovery.close()

    asyncio.run(scenario())
