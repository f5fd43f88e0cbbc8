"""Invoice numbering: which InvoiceSeries an order uses, and how a number is written."""

from __future__ import annotations

import datetime as dt
from string import Formatter
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.errors import fail
from engine.model import Order

# the only fields a number format may use; attribute and index access are refused so that a
# policy cannot reach into Python objects through str.format
FIELDS = frozenset({"year", "month", "day", "number", "series", "seller"})


def select_series_doc(bundle: Bundle, order: Order, scope: Any) -> PolicyDoc | None:
    """The first InvoiceSeries (priority, then name) for the order's seller whose `when` holds."""
    for doc in bundle.kind("InvoiceSeries"):
        if doc.spec.get("seller") != order.seller:
            continue
        if not doc.spec.get("when") or scope.order_true(doc, "spec.when"):
            return doc
    return None


def select_series(bundle: Bundle, order: Order, scope: Any) -> str:
    """The series id for the order, `''` when no series matches."""
    doc = select_series_doc(bundle, order, scope)
    return str(doc.spec["series"]) if doc else ""


def format_problems(text: str) -> list[str]:
    """What is wrong with a number format (empty when it is usable)."""
    problems = []
    try:
        parsed = list(Formatter().parse(text))
    except ValueError as exc:
        return [f"format {text!r} does not parse: {exc}"]
    fields = [name for _, name, _, _ in parsed if name is not None]
    for name in fields:
        if name not in FIELDS:
            problems.append(f"unknown field {{{name}}} (use {', '.join(sorted(FIELDS))})")
    if "number" not in fields:
        problems.append("the format must contain {number}")
    if not problems:
        try:
            format_values(text, 1, dt.date(2000, 1, 1), "S", "seller")
        except (ValueError, TypeError) as exc:
            problems.append(f"format {text!r} cannot be applied: {exc}")
    return problems


def format_values(text: str, number: int, day: dt.date, series: str, seller: str) -> str:
    """Apply a checked format (no validation; see `format_number`)."""
    return text.format(year=day.year, month=day.month, day=day.day, number=number,
                       series=series, seller=seller)


def format_number(spec: dict[str, Any], number: int, date: dt.date) -> str:
    """The invoice number text, e.g. `UK-2026-000042` for `UK-{year}-{number:06d}`."""
    text = str(spec["format"])
    problems = format_problems(text)
    if problems:
        raise fail("invalid_series_format", "; ".join(problems))
    return format_values(text, number, date, str(spec.get("series", "")),
                         str(spec.get("seller", "")))
