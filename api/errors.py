"""One error envelope for every HTTP error, mapped in one place.

Body: `{"code": str, "message": str, "details": [detail, ...]}`. Never a stack trace, never the
request's data (orders carry customer names and addresses): details name fields, not values.
Every detail has one shape, whoever found the problem (the request schema, the JSON reader,
the engine, a route): `{"loc": [...], "type": str, "message": str}`, where `loc` is the path
split into parts (`["body", "order", "lines", 0, "sku"]`, `["query", "revision"]`, or
`["policy", "tax/uk.yaml"]` for a policy file), plus `line` and `column` (1-based) when the
problem has a real position in a text, and `rule` when a policy rule is concerned.
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

from api.redact import safe_details, safe_message, shown_key
from engine.errors import BillplaneError
from engine.jsontext import line_column

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
    "unsupported_media_type": 415,
    "unsupported_content_encoding": 415,
    "duplicate_key": 422,
    "no_active_policy": 503,
    "store_busy": 503,
    "webhook_disabled": 404,
}


class ErrorDetail(BaseModel):
    """One problem: where (`loc`), what kind (`type`) and what is wrong, in words that do not
    repeat the values sent. `line` and `column` only when the problem has a position in a
    text (a JSON body, a policy file); `rule` only when a policy rule is concerned."""

    loc: list[str | int]
    type: str
    message: str
    line: int | None = None
    column: int | None = None
    rule: str | None = None


class ErrorBody(BaseModel):
    """The error envelope (documented in OpenAPI for every error status)."""

    code: str
    message: str
    details: list[ErrorDetail] = []


def detail(loc: list[str | int], type_: str, message: str, line: int = 0, column: int = 0,
           rule: str = "") -> dict[str, Any]:
    """An error detail in the one shape (see ErrorDetail); a position only when it is real."""
    out: dict[str, Any] = {"loc": loc, "type": type_, "message": message}
    if line > 0:
        out["line"] = line
        if column > 0:
            out["column"] = column
    if rule:
        out["rule"] = rule
    return out


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


def too_large(limit: int) -> ApiError:
    """The 413 for a request body above `limit` bytes (however its size became known)."""
    return ApiError("payload_too_large", f"the request body is larger than {limit} bytes",
                    status=413,
                    details=[detail(["body"], "too_large", f"is larger than {limit} bytes")])


def located(exc: BillplaneError, loc: list[str | int]) -> ApiError:
    """`exc` (a refusal of one request field, e.g. a revision name) as an ApiError whose
    details say where: `loc`, the field."""
    first = safe_message(exc.diagnostics[0]) if exc.diagnostics else exc.code
    return ApiError(exc.code, first, details=[
        detail(loc, d["type_"], d["message"]) for d in safe_details(exc.diagnostics)])


def envelope(status: int, code: str, message: str, details: Any = None,
             headers: dict[str, str] | None = None) -> JSONResponse:
    """The one way an error response is built."""
    body = {"code": code, "message": message, "details": details if details is not None else []}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, headers=headers)


def billplane_details(exc: BillplaneError) -> list[dict[str, Any]]:
    """Diagnostics as details; messages name fields and rules, not customer values."""
    return [detail(**d) for d in safe_details(exc.diagnostics)]


def _position(doc: Any, offset: Any) -> tuple[int, int]:
    """Line and column of a JSON syntax error (its offset in the decoded body)."""
    if isinstance(doc, (bytes, bytearray)):
        doc = bytes(doc).decode("utf-8", "replace")
    if not isinstance(doc, str) or not isinstance(offset, int) or offset < 0:
        return 0, 0
    return line_column(doc, min(offset, len(doc)))


def body_model(request: Request) -> type[BaseModel] | None:
    """The model of the request body of the request's route (None without one)."""
    field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(field, "field_info", None), "annotation", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unknown_field(loc: list[str | int], model: type[BaseModel] | None) -> str:
    """What to say of a field the body's model does not declare: which fields it has."""
    if model is None or len(loc) != 2:
        return "is not a field here"
    known = sorted(f.alias or name for name, f in model.model_fields.items())
    return f"is not a field of the request body (known: {', '.join(known)})"


def validation_details(exc: RequestValidationError, model: type[BaseModel] | None = None
                       ) -> tuple[str, list[dict[str, Any]]]:
    """The message and details of a request that does not match its schema (`model`: its
    body's), or whose body is not JSON (then located by line and column); only where and
    what kind: the offending value may be customer data, and so may a key the client chose
    (an unknown field's name shows when it is a plain name, see `shown_key`)."""
    found: list[dict[str, Any]] = []
    not_json = False
    for e in exc.errors():
        loc = [p if isinstance(p, int) else shown_key(str(p)) for p in e.get("loc", ())]
        if e.get("type") == "json_invalid":
            not_json = True
            line, column = _position(exc.body, loc[1] if len(loc) > 1 else None)
            reason = str((e.get("ctx") or {}).get("error") or "not valid JSON")
            found.append(detail(["body"], "json_invalid", reason, line, column))
        elif e.get("type") == "extra_forbidden":
            found.append(detail(loc, "extra_forbidden", _unknown_field(loc, model)))
        else:
            found.append(detail(loc, str(e.get("type", "")), str(e.get("msg", ""))))
    if not_json:
        return "the request body is not valid JSON", found
    return "the request does not match the schema", found


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

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        message, details = validation_details(exc, body_model(request))
        return envelope(422, "invalid_request", message, details)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 405:
            allow = ", ".join(sorted(_methods_for(request)))
            return envelope(405, "method_not_allowed", "method not allowed",
                            [detail(["method"], "not_allowed", f"this path takes {allow}")],
                            headers={"Allow": allow})
        if exc.status_code == 404:
            # no operation (or documentation file) at this path: what is wrong is the path
            return envelope(404, "not_found", "no operation has this path",
                            [detail(["path"], "not_found", "names no operation of this API")])
        codes = {401: "unauthorized", 403: "forbidden", 413: "payload_too_large"}
        if exc.status_code == 400:
            # a body that is not JSON at all: the same answer as any malformed request
            return envelope(422, "invalid_request", "the request body is not valid JSON",
                            [detail(["body"], "json_invalid", "the body cannot be read as JSON")])
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
    """The methods the path's routes serve (the router names only the first route's): those
    of every route with the path template of the first route that matches the path, as the
    router would have chosen it. The API's own routes are listed in `app.state.api_routes`:
    the app's route list holds included routers, which list no paths or methods of theirs."""
    from starlette.routing import Match
    from starlette.staticfiles import StaticFiles

    app = request.app
    routes = [r for r in app.routes if hasattr(r, "path")]
    routes += getattr(app.state, "api_routes", [])
    # inside a mount the scope's root path ends with the mount's: match from the app's own
    scope = {**request.scope, "method": "",
             "root_path": request.scope.get("app_root_path", request.scope.get("root_path", ""))}
    template = None
    methods: set[str] = set()
    for route in routes:
        if route.matches(scope)[0] == Match.NONE or template not in (None, route.path):
            continue
        template = route.path
        # a mounted folder of files (the docs' scripts) is read with GET and HEAD
        files = isinstance(getattr(route, "app", None), StaticFiles)
        methods |= {"GET", "HEAD"} if files else set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")  # api.head answers HEAD wherever GET is served
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
                       details=[detail(["query", shown_key(name)], "unknown",
                                       "is not a parameter of this operation")
                                for name in unknown[:10]])
    keys = request.query_params.keys()
    if len(keys) != len(request.query_params.multi_items()):
        repeated = sorted({k for k in keys if len(request.query_params.getlist(k)) > 1})
        raise ApiError("invalid_request", "query parameter given more than once",
                       details=[detail(["query", name[:50]], "repeated",
                                       "takes one value, given more than once")
                                for name in repeated[:10]])


# headers that carry one value: given twice, which one the service read would depend on the
# order a client library sent them in (a retry with the other Idempotency-Key issues twice)
SINGLE_HEADERS = ("authorization", "idempotency-key", "content-type", "x-billplane-signature",
                  "x-hub-signature-256")


async def reject_repeated_headers(request: Request) -> None:
    """422 for a one-value header (SINGLE_HEADERS) given more than once."""
    headers = request.headers
    repeated = [name for name in SINGLE_HEADERS if len(headers.getlist(name)) > 1]
    if repeated:
        raise ApiError("invalid_request", "header given more than once",
                       details=[detail(["header", name], "repeated",
                                       "takes one value, given more than once")
                                for name in repeated])


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given error statuses, all with the envelope."""
    text = {400: "Bad request", 401: "Missing or invalid API key", 403: "Role not allowed",
            404: "Not found", 409: "Conflict", 413: "Request too large",
            415: "Body not UTF-8 JSON (Content-Type and its charset) or in a content"
                 " coding (Content-Encoding)",
            422: "Cannot be processed", 503: "Not ready"}
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}
