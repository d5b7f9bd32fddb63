"""Problem details, the body size limit and rate limits, on a bare app (no world needed)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import errors
from api.cache import ResponseCache
from api.errors import NotFound, RateLimited, Unauthenticated
from api.limits import BodySizeLimit
from geoalert.jurisdiction import NotPermitted, OutsideJurisdiction

LIMIT = 4_096


class Echo(BaseModel):
    zone: dict
    count: int = 1


def _bare_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodySizeLimit, max_bytes=LIMIT)
    errors.install(app)

    @app.post("/echo")
    def echo(body: Echo) -> Echo:
        return body

    @app.get("/raise/{kind}")
    def raise_(kind: str) -> None:
        raise {
            "unauthenticated": Unauthenticated("a key is needed"),
            "forbidden": NotPermitted("a operator key may not resolve zones"),
            "outside": OutsideJurisdiction("beyond municipality X (11001)"),
            "missing": NotFound("no area 99999"),
            "limited": RateLimited("slow down", 2.2),
            "bug": RuntimeError("secret internals +32470000000"),
        }[kind]

    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_bare_app(), raise_server_exceptions=False)


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(
    ("kind", "status", "type_"),
    [
        ("unauthenticated", 401, "unauthenticated"),
        ("forbidden", 403, "not-permitted"),
        ("outside", 403, "outside-jurisdiction"),
        ("missing", 404, "not-found"),
        ("limited", 429, "rate-limited"),
    ],
)
def test_exception_table(client, kind, status, type_):
    body = _problem(client.get(f"/raise/{kind}"), status)
    assert body["type"] == f"/problems/{type_}"
    assert body["instance"] == f"/raise/{kind}"


def test_headers_that_go_with_401_and_429(client):
    assert client.get("/raise/unauthenticated").headers["www-authenticate"] == "Bearer"
    assert client.get("/raise/limited").headers["retry-after"] == "2"


def test_unexpected_error_reveals_nothing(client):
    body = _problem(client.get("/raise/bug"), 500)
    assert "secret" not in body["detail"] and "+32" not in str(body)


def test_unknown_route_and_method(client):
    assert "no such endpoint: GET /nowhere" in _problem(client.get("/nowhere"), 404)["detail"]
    _problem(client.delete("/echo"), 405)


def test_malformed_json_says_where(client):
    response = client.post(
        "/echo",
        content=b'{"zone": {"area": "21004"},, }',
        headers={"content-type": "application/json"},
    )
    body = _problem(response, 400)
    assert body["type"] == "/problems/malformed-json"
    assert "at character 27" in body["detail"]


def test_invalid_fields_say_which(client):
    body = _problem(client.post("/echo", json={"count": "many"}), 422)
    assert "body.zone: Field required" in body["detail"]
    assert "body.count" in body["detail"]
    assert "many" not in str(body)  # the input is never echoed


def test_declared_oversized_body_refused_before_reading():
    received = []

    async def app(scope, receive, send):  # must never be reached
        received.append(scope)

    sent = []

    async def receive():
        raise AssertionError("the body must not be read")

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/echo",
        "headers": [(b"content-length", str(10**9).encode())],
    }
    asyncio.run(BodySizeLimit(app, max_bytes=LIMIT)(scope, receive, send))
    assert not received
    assert sent[0]["status"] == 413
    assert b"exceeds the limit of 4096 bytes" in sent[1]["body"]


def test_streamed_oversized_body_refused_as_it_passes_the_limit(client):
    def chunks():
        yield b'{"zone": {"coordinates": ['
        for _ in range(10_000):  # far beyond the limit; the server stops reading early
            yield b"[4.35, 50.85], " * 10

    body = _problem(client.post("/echo", content=chunks()), 413)
    assert body["type"] == "/problems/payload-too-large"


def test_body_at_the_limit_is_read():
    padding = LIMIT - len(b'{"zone": {"pad": ""}}')
    payload = b'{"zone": {"pad": "' + b"x" * padding + b'"}}'
    assert len(payload) == LIMIT
    response = TestClient(_bare_app()).post(
        "/echo", content=payload, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200


def test_response_cache_lru_budget_and_expiry():
    now = [0.0]
    cache = ResponseCache(max_bytes=10, ttl_s=60.0, clock=lambda: now[0])
    cache.put(b"a", b"aaaa", {"cells": 1})
    cache.put(b"b", b"bbbb", {"cells": 2})
    assert cache.get(b"a").counts == {"cells": 1}  # a is now the most recently used
    cache.put(b"c", b"cccc", {"cells": 3})  # over budget: b goes
    assert cache.get(b"b") is None
    assert [cache.get(k).body for k in (b"a", b"c")] == [b"aaaa", b"cccc"]
    cache.put(b"big", b"x" * 11, {})  # larger than the whole budget: not kept
    assert cache.get(b"big") is None and cache.get(b"a") is not None
    now[0] = 60.0
    assert cache.get(b"a") is None and cache.get(b"c") is None  # expired
    assert ResponseCache(max_bytes=0, ttl_s=1).get(b"a") is None
