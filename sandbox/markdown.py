"""User text in Markdown: refs, commit subjects, rule, customer, product and jurisdiction
names, file paths and messages read as themselves in the PR comment.

Without escaping, a commit subject such as `Cut VAT | *all* rates <b>` splits a table cell,
turns into emphasis or HTML. Every place the Markdown reports write user text goes through
`text` (plain text) or `code` (a code span); the HTML reports escape the same text for HTML.
"""

from __future__ import annotations

import re
from typing import Any

# what can start Markdown or HTML inline (emphasis, code, links, HTML, strikethrough, GitHub's
# math) or end a table cell; CommonMark reads a backslash before ASCII punctuation as the
# character itself. An `_` between two letters or digits can neither open nor close emphasis
# (CommonMark's flanking rules), so `tax_change_issued` is left as it is.
_SPECIAL = re.compile(r"([\\`*\[\]<>|~$&]|(?<![^\W_])_|_(?![^\W_]))")
_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")  # a line break would end a table row
_TICKS = re.compile(r"`+")


class Markdown(str):
    """Text that is Markdown already, its user text escaped: tables take it as it is."""


def text(value: Any) -> Markdown:
    """User text as literal Markdown, in a line or a table cell: special characters escaped,
    line breaks as spaces."""
    return Markdown(_SPECIAL.sub(r"\\\1", _BREAKS.sub(" ", str(value))))


def code(value: Any, table: bool = False) -> Markdown:
    """User text as a code span, fenced by more backticks than it holds; in a table cell
    (`table`) its `|` escaped, since GFM splits cells before it reads code spans."""
    inner = _BREAKS.sub(" ", str(value))
    if not inner.strip():
        return text(inner)
    fence = "`" * (max((len(t) for t in _TICKS.findall(inner)), default=0) + 1)
    # a space each side keeps a backtick at an end out of the fence (CommonMark strips one)
    pad = " " if inner[0] in "` " or inner[-1] in "` " else ""
    if table:
        inner = inner.replace("|", "\\|")
    return Markdown(f"{fence}{pad}{inner}{pad}{fence}")
