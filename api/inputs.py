"""Request input rules: strict request models, and text the store can hold.

Request models refuse fields they do not declare (a typo must not be ignored silently).
Request strings with a NUL or a lone surrogate are refused.

PostgreSQL refuses NUL in text, and a lone UTF-16 surrogate (JSON allows `"\\ud800"`) cannot
be encoded as UTF-8 by either database or in a response. Such input is a 422 naming where it
is (the field path), never a server error. The body is scanned as bytes first: JSON can only
carry these characters as `\\u0000` or `\\udXXX` escapes, so the common case costs one search.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema

from api.errors import ApiError

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


_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]")
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
    safe = [p if isinstance(p, int) or not unstorable(p) else "<key>" for p in loc]
    return ApiError("invalid_text", "text must not contain NUL characters or lone surrogates",
                    details=[{"loc": [str(p)[:100] if isinstance(p, str) else p for p in safe],
                              "type": "invalid_character"}])


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
    except ValueError:
        return  # not JSON: the body parser answers that
    found = find_unstorable(data)
    if found is not None:
        raise _refuse(["body", *found])
