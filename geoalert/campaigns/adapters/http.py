"""HTTP providers: SMS, voice calls and the operators' gateways, one JSON API shape.

A batch is one ``POST {url}{path}`` with ``{"messages": [{"key", "to", ...}, ...]}``; the
provider answers ``{"results": [{"key", "status": "accepted"|"rejected", "id", "reason"}]}``
in the same order, and accepts a key it has seen before as the same message (idempotency).
Delivery reports are read with ``GET {url}/v1/receipts?after=N`` ->
``{"receipts": [{"id", "status": "delivered"|"failed", "reason"}], "next": M}``.

A time-out, a refused connection, 429 and 5xx retry the whole batch; other 4xx fail it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from pydantic import Field

from geoalert.campaigns.adapters.base import (
    DELIVERED,
    FAILED,
    RETRY,
    SENT,
    Adapter,
    AdapterOptions,
    Batch,
    Receipt,
    Result,
    safe_reason,
)

__all__ = ["HttpOperatorAdapter", "HttpOptions", "HttpSmsAdapter", "HttpVoiceAdapter"]


class HttpOptions(AdapterOptions):
    url: str = Field(description="Base URL of the provider's API.")
    token: str | None = Field(None, description="Bearer token sent to the provider.")


class _HttpAdapter(Adapter):
    Options = HttpOptions
    receipts = True
    path: ClassVar[str]

    def __init__(self, options: HttpOptions):
        super().__init__(options)
        self._client: httpx.AsyncClient | None = None
        self._after = 0

    async def open(self) -> None:
        headers = {"Authorization": f"Bearer {self.options.token}"} if self.options.token else {}
        self._client = httpx.AsyncClient(
            base_url=self.options.url, timeout=self.options.timeout_s, headers=headers
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def item(self, batch: Batch, i: int) -> dict[str, Any]:
        """The JSON of message ``i``."""
        raise NotImplementedError

    async def send(self, batch: Batch) -> Result:
        body = {"messages": [self.item(batch, i) for i in range(len(batch))]}
        try:
            response = await self._client.post(self.path, json=body)
        except httpx.TimeoutException:
            return Result.all(
                len(batch), RETRY, f"provider timed out after {self.options.timeout_s:g} s"
            )
        except httpx.HTTPError as error:
            return Result.all(len(batch), RETRY, safe_reason(f"provider unreachable: {error!r}"))
        if response.status_code == 429 or response.status_code >= 500:
            return Result.all(len(batch), RETRY, f"provider answered HTTP {response.status_code}")
        if response.status_code >= 400:
            return Result.all(len(batch), FAILED, f"provider answered HTTP {response.status_code}")
        results = response.json().get("results", [])
        if len(results) != len(batch):
            return Result.all(
                len(batch), RETRY, "provider answered for a different number of messages"
            )
        out = Result()
        for r in results:
            if r.get("status") == "accepted":
                out.add(SENT, str(r["id"]))
            else:
                out.add(FAILED, safe_reason(f"provider rejected: {r.get('reason', 'no reason')}"))
        return out

    async def poll_receipts(self) -> list[Receipt]:
        try:
            response = await self._client.get("/v1/receipts", params={"after": self._after})
            response.raise_for_status()
        except httpx.HTTPError:
            return []
        data = response.json()
        self._after = int(data.get("next", self._after))
        return [
            Receipt(
                str(r["id"]),
                DELIVERED if r.get("status") == "delivered" else FAILED,
                None if r.get("status") == "delivered" else safe_reason(str(r.get("reason"))),
            )
            for r in data.get("receipts", [])
        ]


class HttpSmsAdapter(_HttpAdapter):
    """SMS through an HTTP provider (``POST /v1/sms``)."""

    name = "http-sms"
    path = "/v1/sms"

    def item(self, batch: Batch, i: int) -> dict[str, Any]:
        return {
            "key": batch.keys[i],
            "to": batch.addresses[i],
            "text": batch.contents[batch.languages[i]].text,
        }


class HttpVoiceAdapter(_HttpAdapter):
    """Voice calls read by text-to-speech through an HTTP provider (``POST /v1/calls``)."""

    name = "http-voice"
    path = "/v1/calls"

    def item(self, batch: Batch, i: int) -> dict[str, Any]:
        lang = batch.languages[i]
        return {
            "key": batch.keys[i],
            "to": batch.addresses[i],
            "language": lang,
            "script": batch.contents[lang].text,
        }


class HttpOperatorAdapter(_HttpAdapter):
    """The requests of :mod:`geoalert.messages.broadcast` (cell broadcast, Alert-SMS) to the
    operators' gateways (``POST /v1/operators``): one message per operator."""

    name = "http-operator"
    path = "/v1/operators"

    def item(self, batch: Batch, i: int) -> dict[str, Any]:
        operator = batch.addresses[i]
        return {
            "key": batch.keys[i],
            "to": operator,
            "channel": batch.channel,
            "request": batch.contents[operator],
        }
