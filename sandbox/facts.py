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
    """`path -> [base, head, difference]` for every leaf that differs (numbers by value)."""
    b, h = leaves(base), leaves(head)
    out: dict[str, Change] = {}
    for path in sorted(set(b) | set(h)):
        bv, hv = b.get(path), h.get(path)
        if not same(bv, hv):
            out[path] = [bv, hv, difference(bv, hv)]
    return out


def generic(path: str) -> str:
    """A path with its list indices dropped (`lines[].tax[].rate`), to count by field."""
    return _INDEX.sub("[]", path)


def section(path: str) -> str:
    """The part of the document a path belongs to: `lines[2]`, `payment`, `series`, ..."""
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
