"""Request body size limit, enforced on the raw byte stream before anything parses it."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PROBLEMS, PayloadTooLarge, problem


class BodySizeLimit:
    """ASGI middleware refusing request bodies larger than ``max_bytes`` with a 413.

    A declared ``Content-Length`` above the limit is answered at once, before a byte of
    the body is read. A body without one (chunked) is counted as it arrives and refused
    the moment it passes the limit, so at most ``max_bytes`` are ever held.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            status, slug, title = PROBLEMS[PayloadTooLarge]
            detail = PayloadTooLarge(self.max_bytes).detail
            headers = {"Connection": "close"}
            response = problem(status, slug, title, detail, scope["path"], headers)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise PayloadTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted, send)
