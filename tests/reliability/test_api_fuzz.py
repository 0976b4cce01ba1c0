"""Fuzzing the product API from its own OpenAPI schema: every operation, hundreds of seeded random requests
(hostile strings, out-of-range and malformed numbers, real ids bent out of shape); none may answer 5xx, and
every answer is JSON. Writes are not routes at all: the API is read-only. Too slow an answer and too long a
URL are refused with JSON too."""

from __future__ import annotations

import random
from collections import Counter
from urllib.parse import quote

import httpx

from tests.conftest import read_table
from tests.test_api import running_api

REQUESTS_PER_OPERATION = 200
HOSTILE = ["", " ", "../../etc/passwd", "..%2F..%2Fetc", "%00", "\x00", "' OR 1=1 --", "\"; DROP TABLE x; --",
           "<script>alert(1)</script>", "{{7*7}}", "${jndi:ldap://x}", "🙂" * 50, "\u202e\u0000\ufffd", "a" * 5000,
           "NaN", "-1", "0", "1e309", "9" * 40, "null", "[]", "{}", "?", "#", "%", "/", "\\", "*", "select 1"]


def _text(rng: random.Random, real: list[str]) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(HOSTILE)
    if roll < 0.7 and real:
        base = rng.choice(real)
        return rng.choice([base, base, base, base + rng.choice(HOSTILE), rng.choice(HOSTILE) + base, base.upper(),
                           base[:-1]])
    alphabet = "abcxyz ?!'\"%/\\.-_0123456789éß中🙂\t\n"
    return "".join(rng.choice(alphabet) for _ in range(rng.choice([1, 2, 3, 10, 50, 301, 2000])))


def _value(rng: random.Random, schema: dict, real: list[str]) -> str:
    if schema.get("type") == "integer" and rng.random() < 0.7:
        return str(rng.choice([-(2**63), -1, 0, 1, 5, 20, 21, 100, 101, 2**31, 2**64, rng.randint(-50, 150)]))
    return _text(rng, real)


def _requests(schema: dict, ids: dict[str, list[str]], rng: random.Random):
    """(path template, url, query params) for every GET operation, REQUESTS_PER_OPERATION times each."""
    for template, item in schema["paths"].items():
        for method, operation in item.items():
            assert method == "get", f"{method.upper()} {template}: the API must be read-only"
            for _ in range(REQUESTS_PER_OPERATION):
                url, query = template, {}
                for parameter in operation.get("parameters", []):
                    real = ids.get(parameter["name"], ids["text"])
                    value = _value(rng, parameter.get("schema", {}), real)
                    if parameter["in"] == "path":
                        url = url.replace("{" + parameter["name"] + "}", quote(value, safe="") or "x")
                    elif parameter["in"] == "query" and rng.random() < 0.9:   # sometimes leave one out
                        query[parameter["name"]] = value
                yield template, url, query


def test_no_request_built_from_the_schema_gets_a_server_error(full_lake):
    config, _, _ = full_lake
    summaries = read_table(config.lake, "gold.product_summaries")
    recommendations = read_table(config.lake, "gold.user_recommendations")
    tags = read_table(config.lake, "gold.product_tags")
    ids = {"product_id": summaries["product_id"].head(20).tolist(),
           "user_id": recommendations["user_id"].drop_duplicates().head(20).tolist(),
           "text": tags["tag"].drop_duplicates().head(20).tolist() + ["is it quiet?", "how long does it last?"]}
    rng = random.Random(20261203)
    statuses: Counter = Counter()
    with running_api(config.lake) as base, httpx.Client(base_url=base, timeout=60) as client:
        schema = client.get("/openapi.json").json()
        for template, url, query in _requests(schema, ids, rng):
            response = client.get(url, params=query)
            statuses[(template, response.status_code)] += 1
            assert response.status_code < 500, f"GET {url} {query} -> {response.status_code}: {response.text[:300]}"
            if response.is_redirect:   # e.g. a trailing slash; never to another host (no open redirect)
                assert response.headers["location"].startswith((base, "/")), (url, response.headers)
                continue
            kind = response.headers.get("content-type", "")
            assert kind.startswith("application/json"), (url, query, response.status_code, kind)
        for method in ("post", "put", "delete", "patch"):
            assert client.request(method, "/products/x").status_code == 405
    # The fuzz reached every kind of answer, not only rejections.
    codes = {code for _, code in statuses}
    assert {200, 404, 422} <= codes, statuses
    print("\n".join(f"{template} {code}: {n}" for (template, code), n in sorted(statuses.items())))


def test_an_answer_too_slow_a_url_too_long_or_a_body_is_refused_with_json(full_lake):
    config, _, _ = full_lake
    product_id = read_table(config.lake, "gold.product_summaries")["product_id"].iloc[0]
    # A limit no question can meet (0.1 ms), so the check does not depend on this machine's speed.
    with running_api(config.lake, request_timeout_s=1e-4) as base, httpx.Client(base_url=base, timeout=60) as client:
        slow = client.get(f"/products/{product_id}/ask", params={"q": "is it quiet?"})
        assert slow.status_code == 504 and "0.0001 s" in slow.json()["detail"]
        long = client.get("/search", params={"q": "x" * 5000})
        assert long.status_code == 414 and "4096" in long.json()["detail"]
        # A body on a GET (declared, or streamed in chunks) is refused before any route reads it.
        with_body = client.request("GET", f"/products/{product_id}", content=b"x" * 10_000)
        assert with_body.status_code == 413 and "no body" in with_body.json()["detail"]
        streamed = client.request("GET", f"/products/{product_id}", content=iter([b"x" * 1000] * 3))
        assert streamed.status_code == 413


def test_only_an_empty_or_absent_body_passes_the_body_check():
    from starlette.requests import Request

    from queries.api import _carries_body

    def carries(*headers: tuple[bytes, bytes]) -> bool:
        return _carries_body(Request({"type": "http", "headers": list(headers)}))

    assert not carries() and not carries((b"content-length", b"0")) and not carries((b"content-length", b"00"))
    assert carries((b"content-length", b"1")) and carries((b"content-length", b"abc"))
    assert carries((b"transfer-encoding", b"chunked"))
