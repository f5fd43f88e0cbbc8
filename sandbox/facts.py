"""What a replay compares: every field of the invoice document but provenance and trace.

The comparison is generic (every leaf of the document, docs/invoice.md), so that no policy
change can be invisible: totals, lines, taxes, payment terms, early-payment discounts,
reminders, credit-note and void windows, the invoice series, the recognition schedule and
journal, violations. Provenance (revision, digest, decision id) differs for any two revisions
and the trace holds file:line locations, so both are left out; trace rule ids are kept to say
which rule caused a change.

Numbers are compared as numbers: a rate written `20.0` instead of `20` is no change, exactly
as the impact analysis (`sandbox.prune`) compares policy specs by value. Differences of
numbers are exact decimal strings; differences of ISO dates are whole days.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from engine.model import PSEUDO_RULES

TOTALS = ("subtotal", "discount", "net", "tax", "total")
IGNORED = frozenset({"provenance", "trace"})
# pseudo rules of the trace (values from the order, sums, engine defaults), never a policy
DERIVED_RULES = PSEUDO_RULES
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_INDEX = re.compile(r"\[\d+\]")
_LINE = re.compile(r"lines\[\d+\]")

Change = list[Any]  # [base value, head value, difference ("" when not a number or date)]


def comparable(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without the fields that differ for any two revisions."""
    return {k: v for k, v in doc.items() if k not in IGNORED}


def leaves(value: Any, prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every leaf of a JSON value by path (`payment.installments[0].amount`)."""
    out = {} if out is None else out
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for key, item in value.items():
            leaves(item, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        if not value and prefix:
            out[prefix] = []
        for i, item in enumerate(value):
            leaves(item, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value
    return out


def number(value: Any) -> Decimal | None:
    """The value as a Decimal when it is an integer or a decimal string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str) and _NUMBER.match(value):
        return Decimal(value)
    return None


def same(base: Any, head: Any) -> bool:
    """Equal, or equal as numbers (`"20"` and `"20.0"`)."""
    if base == head:
        return True
    b, h = number(base), number(head)
    return b is not None and h is not None and b == h


def difference(base: Any, head: Any) -> str:
    """`head - base` for numbers (an absent number counts as zero), days for dates, else ''."""
    b, h = number(base), number(head)
    if (b is not None or base is None) and (h is not None or head is None) and (
            b is not None or h is not None):
        return f"{(h or Decimal(0)) - (b or Decimal(0)):f}"
    if isinstance(base, str) and isinstance(head, str) and _DATE.match(base) and _DATE.match(
            head):
        try:
            days = (dt.date.fromisoformat(head) - dt.date.fromisoformat(base)).days
        except ValueError:
            return ""
        return f"{days:+d} days"
    return ""


def changed_leaves(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Change]:
    """`path -> [base, head, difference]` for every leaf that differs (numbers by value), in
    path order: the leaves of the two documents compared, a path absent on one side as None.

    Both documents are walked together and equal parts are skipped whole (most of a changed
    invoice is unchanged), so only the parts that differ are flattened into leaves.
    """
    out: dict[str, Change] = {}
    _changed(base, head, "", out)
    return dict(sorted(out.items()))


def _changed(base: Any, head: Any, prefix: str, out: dict[str, Change]) -> None:
    if base == head:
        return
    if isinstance(base, dict) and isinstance(head, dict) and base and head:
        for key in base.keys() | head.keys():
            b, h = base.get(key, _ABSENT), head.get(key, _ABSENT)
            if b is not h and b != h:
                _changed(b, h, f"{prefix}.{key}" if prefix else str(key), out)
        return
    if isinstance(base, list) and isinstance(head, list) and base and head:
        for i in range(max(len(base), len(head))):
            b = base[i] if i < len(base) else _ABSENT
            h = head[i] if i < len(head) else _ABSENT
            if b is not h and b != h:
                _changed(b, h, f"{prefix}[{i}]", out)
        return
    if not isinstance(base, dict | list) and not isinstance(head, dict | list):
        # two leaves (or a leaf and nothing): the usual case
        bv = None if base is _ABSENT else base
        hv = None if head is _ABSENT else head
        if not same(bv, hv):
            out[prefix] = [bv, hv, difference(bv, hv)]
        return
    # different shapes (or an empty side): compare the leaves of this part as they are
    b = {} if base is _ABSENT else leaves(base, prefix)
    h = {} if head is _ABSENT else leaves(head, prefix)
    for path in b.keys() | h.keys():
        bv, hv = b.get(path), h.get(path)
        if not same(bv, hv):
            out[path] = [bv, hv, difference(bv, hv)]


_ABSENT: Any = object()  # a key or item one side does not have


def generic(path: str) -> str:
    """A path with its list indices dropped (`lines[].tax[].rate`), to count by field."""
    return _INDEX.sub("[]", path)


def section(path: str) -> str:
    """The part of the document a path belongs to: `lines[2]`, `payment`, `series`, ..."""
    if path.startswith("lines["):
        match = _LINE.match(path)
        if match:
            return match.group(0)
    return path.split(".", 1)[0].split("[", 1)[0]


def rules_by_section(trace: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Rule ids the trace names, by document section."""
    out: dict[str, set[str]] = {}
    for entry in trace:
        rule = entry.get("rule", "")
        if rule:
            out.setdefault(section(str(entry.get("path", ""))), set()).add(str(rule))
    return out
