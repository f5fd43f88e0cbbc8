"""Where a character of a YAML scalar's value was written in the file (for CEL error columns).

A CEL error points into the expression, the scalar's value; authors need the place in the
file, past the quotes, escapes and folded line breaks that YAML removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from engine.errors import Location

_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # YAML's line breaks, no others
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
            "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
            "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def position_in_scalar(text: str, start: Location, style: str | None, line: int,
                       column: int) -> Location:
    """Map a 1-based line/column inside a scalar's value to its place in the file.

    Flow scalars (plain, single- and double-quoted) are read character by character, so
    escapes (`\\"`, `\\t`, `\\u00e9`, `''`) and folded line breaks land where they are written;
    literal blocks are exact; folded blocks are mapped through their folding (one space per
    line break).
    """
    lines = _LINE_BREAK.split(text)
    if style in ("|", ">"):
        return _in_block(lines, start, style, line, column)
    quote = 1 if style in ('"', "'") else 0
    first = start.line - 1
    at_line, at_column = 1, 1
    last: tuple[int, int] | None = None
    for char, file_line, file_col in _flow_chars(lines, first, start.column - 1 + quote, style):
        if (at_line, at_column) == (line, column):
            return Location(start.file, file_line + 1, file_col + 1)
        last = (file_line, file_col)
        if char == "\n":
            at_line, at_column = at_line + 1, 1
        else:
            at_column += 1
    if last is not None and (at_line, at_column) == (line, column):  # just past the end
        return Location(start.file, last[0] + 1, last[1] + 2)
    return start


def _flow_chars(lines: list[str], first: int, col0: int,
                style: str | None) -> Iterator[tuple[str, int, int]]:
    """Each character of a flow scalar's value, with the 0-based line and column it is from."""
    quote = style if style in ('"', "'") else ""
    i, j = first, col0
    while i < len(lines):
        line = lines[i]
        escaped_break = False
        while j < len(line):
            char = line[j]
            if quote == "'" and char == "'":
                if line[j + 1:j + 2] != "'":
                    return
                yield "'", i, j
                j += 2
                continue
            if quote == '"' and char == '"':
                return
            if quote == '"' and char == "\\":
                code = line[j + 1:j + 2]
                if not code:
                    escaped_break = True
                    break
                width = _HEX_DIGITS.get(code, 0)
                try:
                    value = chr(int(line[j + 2:j + 2 + width], 16)) if width else _ESCAPES[code]
                except (KeyError, ValueError):
                    value = code  # invalid: the parser has refused the file already
                yield value, i, j
                j += 2 + width
                continue
            if char in " \t" and not line[j:].strip(" \t"):
                break  # white space before a line break folds away with it
            yield char, i, j
            j += 1
        k = i + 1
        while k < len(lines) and not lines[k].strip(" \t"):
            k += 1
        if k >= len(lines):
            return
        if k == i + 1 and not escaped_break:
            yield " ", i, len(line.rstrip(" \t"))  # a single line break folds into a space
        for empty in range(i + 1, k):
            yield "\n", empty, 0  # each empty line is one line break
        i = k
        j = len(lines[k]) - len(lines[k].lstrip(" \t"))


def _in_block(lines: list[str], start: Location, style: str, line: int,
              column: int) -> Location:
    first = start.line - 1
    body = range(first + 1, len(lines))
    indent = next((len(lines[i]) - len(lines[i].lstrip(" ")) for i in body
                   if lines[i].strip()), 0)
    segments = []
    for i in body:
        if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip(" ")) < indent:
            break
        segments.append((i, indent, lines[i][indent:]))
    if style == "|":
        if not segments:
            return start
        file_line, col0, _ = segments[min(line - 1, len(segments) - 1)]
        return Location(start.file, file_line + 1, col0 + column)
    # folded text: a CEL (line, column) becomes an offset along the joined segments
    offset = column - 1
    for seg_line, seg_col, seg_text in segments:
        if offset <= len(seg_text.rstrip()):
            return Location(start.file, seg_line + 1, seg_col + offset + 1)
        offset -= len(seg_text.rstrip()) + 1
    return start
