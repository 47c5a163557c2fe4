"""The reply cache of blocking reads: keyed on what changes an answer, bounded in bytes."""

from __future__ import annotations

import asyncio
import json

from catalog_fakes import call, make_api, make_store, request

from leapfrog.catalog._httpserver import Response
from leapfrog.catalog._replycache import ReplyCache


def test_junk_parameters_share_one_entry_and_answer_parameters_do_not() -> None:
    async def main() -> None:
        store = make_store()
        api = make_api(store)
        for n in range(5):
            store.kv.put(f"app/{n}", b"v" * 100, n, None)
        for n in range(50):
            answer = await call(api, "GET", f"/v1/kv/app/?recurse&junk{n}={n}&x={n}")
            assert answer.status == 200
        assert len(api.cache) == 1
        keys = await call(api, "GET", "/v1/kv/app/?keys&junk=1")
        assert json.loads(keys.body) == [f"app/{n}" for n in range(5)]
        separated = await call(api, "GET", "/v1/kv/?keys&separator=/")
        assert json.loads(separated.body) == ["app/"]
        pretty = await call(api, "GET", "/v1/kv/app/?recurse&pretty")
        assert b"\n" in pretty.body
        plain = await call(api, "GET", "/v1/kv/app/?recurse&other")
        assert b"\n" not in plain.body
        assert len(api.cache) == 4

    asyncio.run(main())


def test_tags_and_filters_are_part_of_the_key() -> None:
    async def main() -> None:
        store = make_store()
        api = make_api(store)
        for tag in ("a", "b"):
            body = json.dumps({"Name": "web", "ID": f"web-{tag}", "Tags": [tag]}).encode()
            assert (await call(api, "PUT", "/v1/agent/service/register", body)).status == 200
        await store.log.committed()
        seen = {}
        for query in ("tag=a", "tag=b", "filter=Service.ID%3D%3D%22web-a%22", "tag=a&tag=b", ""):
            answer = await call(api, "GET", f"/v1/health/service/web?{query}")
            seen[query] = [e["Service"]["ID"] for e in json.loads(answer.body)]
        assert seen == {
            "tag=a": ["web-a"],
            "tag=b": ["web-b"],
            "filter=Service.ID%3D%3D%22web-a%22": ["web-a"],
            "tag=a&tag=b": [],
            "": ["web-a", "web-b"],
        }

    asyncio.run(main())


def test_bounded_in_bytes_least_recently_used_out() -> None:
    cache = ReplyCache(max_bytes=100_000)
    for n in range(100):
        req = request("GET", f"/v1/kv/k{n}")
        response = Response(200, b"x" * 10_000)
        response.encoded = response.encode(close=False)
        cache.put(req, "", {"recurse"}, 7, response)
        assert cache.bytes <= cache.max_bytes
    assert len(cache) == 4
    assert cache.get(request("GET", "/v1/kv/k99"), "", 7) is not None
    assert cache.get(request("GET", "/v1/kv/k0"), "", 7) is None
    assert cache.get(request("GET", "/v1/kv/k99"), "", 8) is None  # another index
    huge = Response(200, b"x" * 60_000)
    cache.put(request("GET", "/v1/kv/huge"), "", set(), 1, huge)
    assert cache.get(request("GET", "/v1/kv/huge"), "", 1) is None


def test_a_new_index_replaces_the_entry() -> None:
    cache = ReplyCache()
    for index in range(1, 20):
        cache.put(request("GET", "/v1/kv/k"), "", set(), index, Response(200, b"v"))
    assert len(cache) == 1
    assert cache.get(request("GET", "/v1/kv/k?junk"), "", 19) is not None


def test_the_same_query_again_is_found_directly_and_only_at_its_index() -> None:
    cache = ReplyCache()
    first = request("GET", "/v1/health/service/web?index=3&junk=1")
    answer = Response(200, b"[1]")
    answer.encoded = answer.encode(close=False)
    cache.put(first, "", {"passing"}, 4, answer)
    assert cache.get(first, "", 4) is answer  # found by its shape, then remembered
    again = request("GET", "/v1/health/service/web?index=3&junk=1")
    assert cache.get(again, "", 4) is answer  # remembered: the same whole query
    assert cache.get(again, "", 5) is None  # never an answer of another index
    newer = Response(200, b"[1,2]")
    newer.encoded = newer.encode(close=False)
    cache.put(first, "", {"passing"}, 5, newer)
    assert cache.get(again, "", 5) is newer
    assert cache.get(again, "", 4) is None
    assert cache.get(again, "other-token", 5) is None


def test_woken_reads_keep_their_key_and_get_only_the_answer_of_their_index() -> None:
    cache = ReplyCache()
    reads = [request("GET", "/v1/health/service/web?index=3") for _ in range(3)]
    keys = [cache.exact_key(r, "") for r in reads]
    assert keys[0] is keys[1] is keys[2]  # one object: a run of them is seen by identity
    assert cache.exact_key(reads[0], "token") is not keys[0]
    answer = Response(200, b"[1]")
    answer.encoded = answer.encode(close=False)
    cache.put(reads[0], "", {"passing"}, 4, answer)
    assert all(cache.get(r, "", 4, k) is answer for r, k in zip(reads, keys, strict=True))
    assert cache.get(reads[1], "", 5, keys[1]) is None  # never another index's answer
    newer = Response(200, b"[1,2]")
    newer.encoded = newer.encode(close=False)
    cache.put(reads[0], "", {"passing"}, 5, newer)
    assert cache.get(reads[2], "", 5, keys[2]) is newer
    assert cache.get(reads[2], "", 4, keys[2]) is None  # the entry moved on to 5
    other = request("GET", "/v1/health/service/db?index=3")
    assert cache.get(other, "", 5, cache.exact_key(other, "")) is None
