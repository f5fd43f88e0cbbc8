"""One error envelope for every HTTP error, mapped in one place.

Body: `{"code": str, "message": str, "details": list | dict}`. Never a stack trace, never the
request's data (orders carry customer names and addresses): details name fields, not values.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.redact import safe_details, safe_message
from engine.errors import BillplaneError

log = logging.getLogger("billplane.api")

# BillplaneError codes -> HTTP status. Anything not listed is a 422 (the input cannot be
# processed under the policies); codes about the policy source are listed explicitly.
STATUS_BY_CODE: dict[str, int] = {
    "invalid_order": 422,
    "no_tax_rate": 422,
    "unknown_sku": 422,
    "no_price": 422,
    "unknown_revision": 404,
    "invoice_not_found": 404,
    "key_not_found": 404,
    "not_found": 404,
    "unauthorized": 401,
    "invalid_signature": 401,
    "forbidden": 403,
    "idempotency_conflict": 409,
    "idempotency_in_progress": 409,
    "already_voided": 409,
    "activation_refused": 409,
    "activation_unavailable": 409,
    "revision_mismatch": 409,
    "payload_too_large": 413,
    "duplicate_key": 422,
    "no_active_policy": 503,
    "store_busy": 503,
    "webhook_disabled": 404,
}


class ErrorBody(BaseModel):
    """The error envelope (documented in OpenAPI for every error status)."""

    code: str
    message: str
    details: Any = None


class ApiError(Exception):
    """An error raised by the HTTP layer; `code` decides the status via STATUS_BY_CODE."""

    def __init__(self, code: str, message: str, details: Any = None, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details if details is not None else []
        self.status = status or STATUS_BY_CODE.get(code, 422)


class BodyError(StarletteHTTPException):
    """An `ApiError` about the request body, raised while the framework reads the body: the
    framework lets an HTTPException out of its body reading unchanged (any other exception
    there becomes a 400), and the handler answers with the ApiError it carries."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.status, error.message)
        self.error = error


def envelope(status: int, code: str, message: str, details: Any = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """The one way an error response is built."""
    body = {"code": code, "message": message, "details": details if details is not None else []}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, headers=headers)


def billplane_details(exc: BillplaneError) -> list[dict[str, Any]]:
    """Diagnostics as details; messages name fields and rules, not customer values."""
    return safe_details(exc.diagnostics)


def install(app: FastAPI) -> None:
    """Register the exception handlers, keyed by exception class."""

    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return envelope(exc.status, exc.code, exc.message, exc.details)

    async def on_body_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BodyError)
        return envelope(exc.error.status, exc.error.code, exc.error.message, exc.error.details)

    async def on_billplane(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BillplaneError)
        status = STATUS_BY_CODE.get(exc.code, 422)
        first = safe_message(exc.diagnostics[0]) if exc.diagnostics else exc.code
        return envelope(status, exc.code, first, billplane_details(exc))

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # only where and what kind: the offending input value may be customer data
        details = [{"loc": [str(p) for p in e.get("loc", ())], "type": e.get("type", ""),
                    "message": e.get("msg", "")} for e in exc.errors()]
        return envelope(422, "invalid_request", "the request does not match the schema", details)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            allow = ", ".join(sorted(_methods_for(request)))
            return envelope(405, "method_not_allowed", "method not allowed",
                            headers={"Allow": allow})
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                 403: "forbidden", 413: "payload_too_large"}
        if exc.status_code == 400:
            # a body that is not JSON at all: the same answer as any malformed request
            return envelope(422, "invalid_request", "the request body is not valid JSON")
        code = codes.get(exc.status_code, "http_error")
        return envelope(exc.status_code, code, str(exc.detail),
                        headers=dict(exc.headers) if exc.headers else None)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(BodyError, on_body_error)
    app.add_exception_handler(BillplaneError, on_billplane)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


class UnexpectedErrors:
    """Turns any exception no handler claimed into the 500 envelope and one log line.

    Starlette's own last-resort handler re-raises after answering, so the server would log a
    traceback, and an exception's text may quote the request (a database error quotes its
    bound parameters: the whole order). Here the exception ends: the log line names its type
    and the route template only.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:  # noqa: BLE001 - the last resort: answered, logged, ended
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            log.error("internal error %s on %s %s", type(exc).__name__, scope.get("method", ""),
                      route)
            if not started:
                response = envelope(500, "internal_error", "internal error (a retry with the same"
                                    " Idempotency-Key is safe)")
                await response(scope, receive, send)


def _methods_for(request: Request) -> set[str]:
    """Every method some route serves at this path (the router names only the first)."""
    from starlette.routing import Match

    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": ""})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


async def reject_unknown_query(request: Request) -> None:
    """422 for query parameters the operation does not declare (a typo must not be ignored)
    and for a parameter given more than once (every parameter here takes one value; silently
    keeping the last one would hide a client bug)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not request.query_params:
        return
    known: set[str] = set()
    stack = [dependant]
    while stack:
        dep = stack.pop()
        known |= {p.alias for p in dep.query_params}
        stack.extend(dep.dependencies)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError("invalid_request", "unknown query parameter",
                       details=[{"loc": ["query", name[:50]], "type": "unknown"}
                                for name in unknown[:10]])
    keys = request.query_params.keys()
    if len(keys) != len(request.query_params.multi_items()):
        repeated = sorted({k for k in keys if len(request.query_params.getlist(k)) > 1})
        raise ApiError("invalid_request", "query parameter given more than once",
                       details=[{"loc": ["query", name[:50]], "type": "repeated"}
                                for name in repeated[:10]])


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses, all with the envelope."""
    text = {400: "Bad request", 401: "Missing or invalid API key", 403: "Role not allowed",
            404: "Not found", 409: "Conflict", 413: "Request too large",
            422: "Cannot be processed", 503: "Not ready"}
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}
