"""Request input rules: strict request models, JSON bodies without repeated keys, and text
the store can hold.

Request models refuse fields they do not declare (a typo must not be ignored silently).
A JSON body that gives a key twice in one object is refused: JSON parsers disagree on which
value wins, and keeping the last one silently would lose the other (a 422 `duplicate_key`
naming the key's path, line and column; see `JsonRoute`). Request strings with a NUL or a
lone surrogate are refused.

PostgreSQL refuses NUL in text, and a lone UTF-16 surrogate (JSON allows `"\\ud800"`) cannot
be encoded as UTF-8 by either database or in a response. Such input is a 422 naming where it
is (the field path), never a server error. The body is scanned as bytes first: JSON can only
carry these characters as `\\u0000` or `\\udXXX` escapes, so the common case costs one search.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema

from api.errors import ApiError, BodyError, detail
from api.redact import shown_key
from engine.jsontext import RepeatedKey, line_column, locate_repeated_key, unique_keys

ISO_DATE = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _calendar_day(text: str) -> str:
    try:
        dt.date.fromisoformat(text)  # 2026-02-30 matches the pattern but is no day
    except ValueError:
        raise ValueError("not a calendar date") from None  # its own words: no value quoted
    return text


# a calendar date written YYYY-MM-DD (a string: the engine takes dates as text), which is
# what JSON Schema's `format: date` (RFC 3339 full-date) describes
IsoDate = Annotated[str, StringConstraints(pattern=ISO_DATE),
                    WithJsonSchema({"type": "string", "format": "date"}),
                    AfterValidator(_calendar_day)]


class StrictModel(BaseModel):
    """A request body: unknown fields are a 422, not ignored."""

    model_config = ConfigDict(extra="forbid")


# deeper than any request body of this API (an order nests 5 levels): a body nested deeper
# is refused before anything walks it (its fingerprint, its text checks), which would
# otherwise exhaust the interpreter's recursion limit (a 500) at about 950 levels
MAX_DEPTH = 64


def too_deep(loc: list[str | int]) -> ApiError:
    """The 422 for a body nested deeper than MAX_DEPTH (at `loc`, where it gets too deep)."""
    return ApiError("invalid_request", "the request body is nested too deeply",
                    details=[detail(loc, "too_deep", f"nests more than {MAX_DEPTH} levels")])


def depth_error(body: bytes, data: Any) -> ApiError | None:
    """`too_deep` at the first value of `data` nested deeper than MAX_DEPTH, else None; a
    body with fewer brackets than that costs two byte counts."""
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return None
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return too_deep(["body", *(_shown(p) for p in path)])
        if isinstance(value, dict):
            stack.extend((v, (*path, k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(value))
    return None


class _NotJson(Exception):
    """`NaN`, `Infinity` or `-Infinity` (its text) where a value was expected."""


def _no_constant(name: str) -> Any:
    raise _NotJson(name)


# a string (skipped whole: it may hold the words) or one of Python's non-JSON constants
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def constant_error(body: bytes, name: str) -> json.JSONDecodeError:
    """The syntax error for `NaN`, `Infinity` or `-Infinity` in `body`: RFC 8259 has no such
    values (Python's reader takes them by default), located at the first one like any other
    syntax error (the text is JSON up to it)."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")  # as json.loads does
    at = next((m.start(1) for m in _CONSTANT.finditer(text) if m.group(1)), 0)
    return json.JSONDecodeError(f"{name} is not a JSON value (RFC 8259 has no NaN or"
                                " infinities)", text, at)


def loads_body(body: bytes) -> Any:
    """A JSON request body as the framework reads it (`json.loads`: the same values, the same
    syntax errors), except that `NaN`, `Infinity` and `-Infinity` are syntax errors (they are
    not JSON), a key given twice in one object is an `ApiError` `duplicate_key` with the
    key's location, and a body nested too deeply to parse is one (`too_deep`)."""
    try:
        return json.loads(body, object_pairs_hook=unique_keys, parse_constant=_no_constant)
    except _NotJson as exc:
        raise constant_error(body, str(exc)) from None
    except RepeatedKey:
        raise repeated_key_error(body) from None
    except RecursionError:
        raise too_deep(["body"]) from None


def _shown(step: str | int) -> str | int:
    # keys are schema names, but a map's keys are the client's: only name-like ones are shown
    return step if isinstance(step, int) else shown_key(step)


_REPEATED = "repeats a key given before in the same object"


def repeated_key_error(body: bytes) -> ApiError:
    """The 422 for a body with a repeated key: where (`loc`, the key last), its line and
    column, never a value."""
    text = body.decode(json.detect_encoding(body), "surrogatepass")  # as json.loads does
    found = locate_repeated_key(text)
    if found is None:
        where = detail(["body"], "repeated", _REPEATED)
    else:
        path, at = found
        line, column = line_column(text, at)
        where = detail(["body", *(_shown(p) for p in path)], "repeated", _REPEATED, line,
                       column)
    return ApiError("duplicate_key", "a key is given twice in one JSON object",
                    details=[where])


def is_json_type(content_type: str | None) -> bool:
    """True for a media type the framework reads as JSON (application/json, .../*+json)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/")
                                          and kind.endswith("+json"))


_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}")


def declared_charset(content_type: str | None) -> str | None:
    """The `charset` parameter of a Content-Type, unquoted and lower-cased (None without
    one): `application/json; charset="UTF-8"` gives `utf-8`. Given more than once, the first
    that is not UTF-8 (a header naming two charsets does not say which the body is in)."""
    found = None
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            found = value.strip().lower()
            if found != "utf-8":
                return found
    return found


def refuse_repeated_keys(body: bytes) -> None:
    """For an endpoint that reads its body itself: a 422 `duplicate_key` when the body is
    JSON with a repeated key. A body that is not JSON passes (the endpoint decides)."""
    try:
        loads_body(body)
    except (ValueError, RecursionError):
        return


class JsonRequest(Request):
    """A request whose JSON body is read by `loads_body`."""

    _parsed: Any

    async def json(self) -> Any:
        if not hasattr(self, "_parsed"):
            body = await self.body()
            try:
                parsed = loads_body(body)
                deep = depth_error(body, parsed)
                if deep is not None:
                    raise deep
            except ApiError as exc:
                # raised inside the framework's body reading: only an HTTPException gets out
                # of it unchanged (anything else becomes a 400)
                raise BodyError(exc) from None
            self._parsed = parsed
        return self._parsed


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length.strip() != "0") or (
        "transfer-encoding" in request.headers)


def refuse_unreadable_body(request: Request, reads_json: bool) -> None:
    """415 for a body the service would misread: one in a content coding (gzip, br, ...:
    bodies are read as sent, and a compressed one would pass the size limit as it is), or,
    where the operation reads a JSON body, one that is not declared JSON (curl -d sends
    application/x-www-form-urlencoded) instead of a schema error about the whole body, or
    that is declared in a charset other than UTF-8 (JSON's only one)."""
    if not _has_body(request):
        return
    coding = request.headers.get("content-encoding", "").strip().lower()
    if coding not in ("", "identity"):
        raise ApiError("unsupported_content_encoding",
                       "request bodies are read as sent: send them without a content coding",
                       status=415,
                       details=[detail(["header", "content-encoding"], "unsupported",
                                       "no content coding is supported for request bodies")])
    if reads_json and not is_json_type(request.headers.get("content-type")):
        raise ApiError("unsupported_media_type", "the request body must be JSON",
                       status=415,
                       details=[detail(["header", "content-type"], "unsupported",
                                       "must be application/json")])
    charset = declared_charset(request.headers.get("content-type")) if reads_json else None
    if charset is not None and charset != "utf-8":
        # JSON is UTF-8 (RFC 8259 8.1); a body declared in another charset would be read as
        # UTF-8 (or as what its first bytes suggest) against what its sender said
        shown = charset if _TOKEN.fullmatch(charset) else "<charset>"
        raise ApiError("unsupported_media_type",
                       f"the request body must be UTF-8 JSON, not charset {shown}",
                       status=415,
                       details=[detail(["header", "content-type"], "unsupported_charset",
                                       f"charset {shown} is not supported: JSON is UTF-8")])


class JsonRoute(APIRoute):
    """The route class of every router: its JSON body is read without repeated keys, and
    a body that would be misread is refused first (`refuse_unreadable_body`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        reads_json = self.body_field is not None

        async def reading(request: Request) -> Response:
            refuse_unreadable_body(request, reads_json)
            return await handler(JsonRequest(request.scope, request.receive))

        return reading


# an escaped NUL or surrogate, a raw NUL byte (in a UTF-16 or UTF-32 body) or the UTF-8 form
# of a surrogate (ED A0..BF), which JSON decoders let through
_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\x00|\xed[\xa0-\xbf]")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def unstorable(text: str) -> bool:
    """True when `text` holds a NUL or a lone surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def find_unstorable(value: Any, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """The path of the first key or string in JSON data that the store cannot hold."""
    if isinstance(value, str):
        return path if unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and unstorable(key):
                return (*path, "<key>")
            found = find_unstorable(item, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_unstorable(item, (*path, index))
            if found is not None:
                return found
    return None


def _refuse(loc: list[str | int]) -> ApiError:
    # keys on the way may be the client's (a map's, or the key itself): only plain names show
    safe = [p if isinstance(p, int) else "<key>" if unstorable(p) else shown_key(p)
            for p in loc]
    return ApiError("invalid_text", "text must not contain NUL characters or lone surrogates",
                    details=[detail(safe, "invalid_character",
                                    "contains a NUL character or a lone surrogate")])


async def refuse_unstorable_text(request: Request) -> None:
    """422 `invalid_text` for such characters in the path, the query or a JSON body."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and unstorable(value):
            raise _refuse(["path", name])
    for name, value in request.query_params.multi_items():
        if unstorable(name) or unstorable(value):
            raise _refuse(["query", name])
    if request.method not in _WRITES:
        return
    body = await request.body()
    if not _SUSPECT.search(body):
        return
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON (or too deep to read): the body parser answers that
    deep = depth_error(body, data)  # a body the endpoint reads itself (the webhook's)
    if deep is not None:
        raise deep
    found = find_unstorable(data)
    if found is not None:
        raise _refuse(["body", *found])
