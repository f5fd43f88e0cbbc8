"""Reading JSON text: where in it a key repeats a key of its object.

JSON parsers disagree on which value of a repeated key wins, so billing input refuses them
(the command line's order files, the service's request bodies) and says where the repeat is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# whitespace, then a number or a literal if one is next (anything but structure or a string)
_SKIP = re.compile(r'[ \t\n\r]*(?:[^ \t\n\r{}\[\],:"]+[ \t\n\r]*)?')
_DECODER = json.JSONDecoder()


class RepeatedKey(ValueError):
    """A key given twice in one object (its text is the key)."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """`object_pairs_hook` for `json.loads`: an object, or `RepeatedKey` at a repeated key."""
    # one C-level dict build per object; only its size tells whether a key repeated
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKey(key)
            seen.add(key)
    return found


@dataclass
class _Open:
    """An object (with the keys seen so far) or an array being read."""

    keys: set[str] | None  # None: an array
    step: str | int = 0  # the current key, or the current index
    want_key: bool = True


def locate_repeated_key(text: str) -> tuple[list[str | int], int] | None:
    """The first key in document order that repeats a key of its object: its path (the
    object's keys and indexes from the top, then the key) and its offset in `text`; None if
    no key repeats. The text is read as JSON only as far as that key (it is valid that far
    when `json.loads` met the repeat)."""
    stack: list[_Open] = []
    i, n = 0, len(text)
    while True:
        skipped = _SKIP.match(text, i)  # always matches (maybe nothing)
        i = skipped.end() if skipped else i
        if i >= n:
            return None
        c = text[i]
        top = stack[-1] if stack else None
        if c == '"':
            key, end = _DECODER.raw_decode(text, i)
            if top is not None and top.keys is not None and top.want_key:
                if key in top.keys:
                    return [o.step for o in stack[:-1]] + [key], i
                top.keys.add(key)
                top.step, top.want_key = key, False
            i = end
            continue
        if c in "{[":
            stack.append(_Open(set() if c == "{" else None))
        elif c in "}]":
            if not stack:
                return None
            stack.pop()
        elif c == "," and top is not None:
            if top.keys is not None:
                top.want_key = True
            else:
                top.step = int(top.step) + 1
        i += 1


def line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of an offset in `text`."""
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
