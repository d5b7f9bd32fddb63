"""Errors as RFC 9457 problem details, from one exception-to-status table.

Exceptions raised below the API know nothing of HTTP; :data:`PROBLEMS` maps each kind to a
status, a problem type and a title. The ``detail`` is the exception's message, written to be
safe to show (it says what is wrong and where, never a phone, e-mail or address); anything
unexpected becomes a 500 whose detail is only logged.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api.models import Problem
from geoalert.jurisdiction import NotPermitted, OutsideJurisdiction
from geoalert.messages.cap import CapError
from geoalert.zones import ZoneError

log = logging.getLogger("geoalert.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class Unauthenticated(Exception):
    """No key, or one that authenticates nobody. Its message never says which."""


class RateLimited(Exception):
    """A key sent more requests than its rate allows."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFound(LookupError):
    """An area, cell or other named thing that this world does not have."""


class NotReady(Exception):
    """The service has not finished loading its world."""


class PayloadTooLarge(HTTPException):
    """A request body beyond the size limit.

    An :class:`HTTPException` because it is raised while the framework reads the body,
    which lets only those through unchanged.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds the limit of {limit} bytes")


PROBLEMS: dict[type[BaseException], tuple[int, str, str]] = {
    Unauthenticated: (401, "unauthenticated", "Missing or invalid API key"),
    OutsideJurisdiction: (403, "outside-jurisdiction", "Outside the key's jurisdiction"),
    NotPermitted: (403, "not-permitted", "Not permitted for this key's role"),
    NotFound: (404, "not-found", "Not found"),
    ZoneError: (422, "invalid-zone", "Invalid zone or resolve option"),
    CapError: (422, "invalid-alert", "Invalid alert"),
    RateLimited: (429, "rate-limited", "Too many requests"),
    PayloadTooLarge: (413, "payload-too-large", "Content Too Large"),
    NotReady: (503, "not-ready", "Not ready"),
}
"""Exception class -> (HTTP status, problem type slug, title); the most derived class wins."""


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the problem statuses a route may answer."""
    return {s: {"model": Problem, "description": HTTPStatus(s).phrase} for s in statuses}


def problem_type(slug: str) -> str:
    """The problem type URI of ``slug``, relative to the API."""
    return f"/problems/{slug}"


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """An ``application/problem+json`` response."""
    body = {"type": problem_type(slug), "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    body.update(extensions)
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def install(app: FastAPI) -> None:
    """Answer every exception of ``app`` with a problem: :data:`PROBLEMS`, then the rest."""

    async def from_table(request: Request, exc: Exception) -> Response:
        status, slug, title = next(PROBLEMS[c] for c in type(exc).__mro__ if c in PROBLEMS)
        headers = None
        if isinstance(exc, Unauthenticated):
            headers = {"WWW-Authenticate": "Bearer"}
        elif isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, round(exc.retry_after_s)))}
        detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
        return problem(status, slug, title, detail, request.url.path, headers)

    async def from_http(request: Request, exc: HTTPException) -> Response:
        phrase = HTTPStatus(exc.status_code).phrase
        slug = phrase.lower().replace(" ", "-").replace("'", "")
        detail = exc.detail if exc.detail != phrase else _HTTP_DETAILS.get(exc.status_code, phrase)
        if exc.status_code == 404 and detail == _HTTP_DETAILS[404]:
            detail = f"no such endpoint: {request.method} {request.url.path}"
        return problem(exc.status_code, slug, phrase, detail, request.url.path, exc.headers)

    async def from_validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [_describe(e) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            return problem(
                400, "malformed-json", "Malformed JSON", errors[0]["msg"], request.url.path
            )
        detail = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors)
        return problem(
            422, "invalid-request", "Invalid request", detail, request.url.path, errors=errors
        )

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "Internal error", "the server failed; this is logged")

    for cls in PROBLEMS:
        app.add_exception_handler(cls, from_table)
    app.add_exception_handler(HTTPException, from_http)
    app.add_exception_handler(RequestValidationError, from_validation)
    app.add_exception_handler(Exception, unexpected)


_HTTP_DETAILS = {
    404: "no such endpoint",
    405: "this endpoint does not accept that method",
}


def _describe(error: dict[str, Any]) -> dict[str, str]:
    """A validation error as ``loc``/``msg``/``type``, never echoing the input."""
    if error["type"] == "json_invalid":
        ctx = error.get("ctx", {})
        position = error["loc"][-1]
        msg = f"malformed JSON at character {position}: {ctx.get('error', 'cannot decode')}"
        return {"loc": "body", "msg": msg, "type": error["type"]}
    loc = ".".join(str(part) for part in error["loc"])
    return {"loc": loc, "msg": error["msg"], "type": error["type"]}
