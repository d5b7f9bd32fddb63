"""A fake HTTP provider (SMS, voice calls, operators' gateways) for tests and benchmarks.

Implements the provider API of :mod:`geoalert.campaigns.adapters.http` on loopback:
``POST /v1/sms``, ``/v1/calls``, ``/v1/operators`` take ``{"messages": [...]}`` and answer
one result per message; ``GET /v1/receipts?after=N`` gives the delivery reports from
position N. A key seen before is accepted again with its first id and not delivered again
(idempotency), and counted in :attr:`FakeProvider.duplicates`.

Failures are injected: :attr:`fail_statuses` answers the next requests with these HTTP
statuses, :attr:`delay_s` makes every answer late (time-outs), :attr:`reject_to` refuses
messages to these recipients.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

__all__ = ["FakeProvider"]

PATHS = ("/v1/sms", "/v1/calls", "/v1/operators")


@dataclass
class FakeProvider:
    """The provider; use as a context manager. Its base URL is :attr:`url`."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    """Every message received (with its ``path``), duplicates included."""
    unique: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> id of the first message with it."""
    duplicates: int = 0
    requests: int = 0
    fail_statuses: collections.deque = field(default_factory=collections.deque)
    delay_s: float = 0.0
    reject_to: set[str] = field(default_factory=set)
    keep_messages: bool = True
    """Keep every message in :attr:`received` (benchmarks turn it off)."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._receipts: list[dict[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # no access log (phone numbers)
                pass

            def _answer(self, status: int, body: object) -> None:
                data = orjson.dumps(body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/v1/receipts":
                    self._answer(404, {"error": "not found"})
                    return
                after = int(parse_qs(url.query).get("after", ["0"])[0])
                with provider._lock:
                    receipts = provider._receipts[after:]
                    nxt = len(provider._receipts)
                self._answer(200, {"receipts": receipts, "next": nxt})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path not in PATHS:
                    self._answer(404, {"error": "not found"})
                    return
                status, answer = provider._post(self.path, orjson.loads(body))
                if provider.delay_s:
                    time.sleep(provider.delay_s)
                self._answer(status, answer)

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _post(self, path: str, body: dict) -> tuple[int, dict]:
        with self._lock:
            self.requests += 1
            if self.fail_statuses:
                return self.fail_statuses.popleft(), {"error": "injected failure"}
            results = []
            for message in body["messages"]:
                key = message["key"]
                if self.keep_messages:
                    self.received.append({"path": path, **message})
                if message.get("to") in self.reject_to:
                    results.append({"key": key, "status": "rejected", "reason": "unknown number"})
                    continue
                known = self.unique.get(key)
                if known is not None:
                    self.duplicates += 1
                    results.append({"key": key, "status": "accepted", "id": known})
                    continue
                message_id = f"m{len(self.unique) + 1}"
                self.unique[key] = message_id
                self._receipts.append({"id": message_id, "status": "delivered"})
                results.append({"key": key, "status": "accepted", "id": message_id})
        return 200, {"results": results}
