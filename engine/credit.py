"""The credit stage: the first matching CreditPolicy gives the invoice's `payment` object.

Due date = invoice date + net days (or the last day of the invoice month + net days when
`end_of_month`). Installments split the total exactly, the remainder on the first.
Credit notes are permitted unless a policy restricts them (corrections are credit notes);
reissue and void are permitted only when the policy says so. The API enforces the windows
and limits exposed here.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.model import Order, TraceEntry
from engine.money import exponent, fmt, quantize

HUNDRED = Decimal(100)


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's last day (Jan 31 + 1 = Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def month_end(day: dt.date) -> dt.date:
    """Last day of the month of `day`."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def percent_text(value: Any) -> str:
    """A percent as a plain decimal string (`2`, `17.5`), never in exponent form."""
    number = Decimal(str(value))
    text = f"{number:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def select_policy(bundle: Bundle, scope: Any) -> PolicyDoc | None:
    """The first CreditPolicy (priority, then name) whose `when` holds."""
    for doc in bundle.kind("CreditPolicy"):
        if not doc.spec.get("when") or scope.order_true(doc, "spec.when"):
            return doc
    return None


def split_even(total: Decimal, count: int, currency: str) -> list[Decimal]:
    """`count` equal parts in minor units; the remainder goes to the first part."""
    e = exponent(currency)
    units = int(total.scaleb(e))
    sign = -1 if units < 0 else 1
    base, rest = divmod(abs(units), count)
    parts = [base + (rest if i == 0 else 0) for i in range(count)]
    return [Decimal(sign * p).scaleb(-e) for p in parts]


def _terms_text(terms: dict[str, Any]) -> str:
    days = int(terms.get("net_days", 0))
    if terms.get("end_of_month"):
        return f"end of month + {days} days" if days else "end of month"
    return f"net {days}" if days else "due on receipt"


def _due(order: Order, terms: dict[str, Any]) -> dt.date:
    start = month_end(order.date) if terms.get("end_of_month") else order.date
    return start + dt.timedelta(days=int(terms.get("net_days", 0)))


def _window(order: Order, spec: dict[str, Any] | None, default_allowed: bool) -> dict[str, Any]:
    if spec is None:
        return {"allowed": default_allowed, "window_days": None, "until": None}
    allowed = bool(spec.get("allowed", True))
    days = spec.get("window_days")
    until = None
    if allowed and days is not None:
        until = (order.date + dt.timedelta(days=int(days))).isoformat()
    return {"allowed": allowed, "window_days": None if days is None else int(days),
            "until": until}


def _credit_notes(order: Order, spec: dict[str, Any] | None) -> dict[str, Any]:
    out = _window(order, spec, True)
    spec = spec or {}
    out["max_percent"] = percent_text(spec.get("max_percent", 100))
    above = spec.get("approval_above_percent")
    out["approval_above_percent"] = None if above is None else percent_text(above)
    return out


def _hold(doc: PolicyDoc, order: Order, total: Decimal, trace: list[TraceEntry]
          ) -> dict[str, Any] | None:
    limit_spec = doc.spec.get("credit_limit")
    if not limit_spec:
        return None
    currency = order.currency
    limits = limit_spec.get("amount") or {}
    if currency not in limits:
        # a policy that limits credit but names no limit in this currency cannot clear it
        return {"reason": "no_credit_limit_for_currency", "currency": currency,
                "exposure": fmt(order.exposure, currency), "total": fmt(total, currency)}
    limit = Decimal(str(limits[currency]))
    trace.append(TraceEntry("payment.hold", doc.name, doc.where, order.exposure + total,
                            {"exposure": fmt(order.exposure, currency),
                             "total": fmt(total, currency), "limit": fmt(limit, currency)}))
    if order.exposure + total <= limit:
        return None
    return {"reason": "credit_limit_exceeded", "limit": fmt(limit, currency),
            "exposure": fmt(order.exposure, currency), "total": fmt(total, currency)}


def _installments(doc: PolicyDoc | None, order: Order, total: Decimal, due: dt.date,
                  trace: list[TraceEntry]) -> list[dict[str, Any]]:
    currency = order.currency
    spec = (doc.spec.get("installments") if doc else None) or {}
    count, interval = 1, 1
    if spec:
        minimum = spec.get("min_total")
        eligible = minimum is None or (
            currency in minimum and total >= Decimal(str(minimum[currency])))
        if eligible:
            count, interval = int(spec["count"]), int(spec.get("interval_months", 1))
    parts = split_even(total, count, currency)
    out = []
    for i, amount in enumerate(parts):
        day = add_months(due, i * interval)
        out.append({"number": i + 1, "due_date": day.isoformat(), "amount": fmt(amount, currency)})
        trace.append(TraceEntry(f"payment.installments[{i}].amount",
                                doc.name if doc else "order", doc.where if doc else "", amount,
                                {"total": fmt(total, currency), "count": str(count),
                                 "interval_months": str(interval)}))
    return out


def payment_terms(bundle: Bundle, order: Order, total: Decimal, scope: Any,
                  trace: list[TraceEntry]) -> dict[str, Any]:
    """The `payment` object of the invoice (docs/invoice.md), amounts as decimal strings."""
    currency = order.currency
    doc = select_policy(bundle, scope)
    spec = doc.spec if doc else {}
    terms = spec.get("terms") or {}
    due = _due(order, terms)
    early = None
    if spec.get("early_payment"):
        ep = spec["early_payment"]
        percent = Decimal(str(ep["percent"]))
        amount = quantize(total - total * percent / HUNDRED, currency,
                          spec.get("rounding", "half_up"))
        early = {"until": (order.date + dt.timedelta(days=int(ep["days"]))).isoformat(),
                 "percent": percent_text(percent), "amount": fmt(amount, currency)}
        assert doc is not None
        trace.append(TraceEntry("payment.early_payment.amount", doc.name, doc.where, amount,
                                {"total": fmt(total, currency), "percent": early["percent"]}))
    void = _window(order, spec.get("void"), False)
    reissue = _window(order, spec.get("reissue"), False)
    return {
        "policy": doc.name if doc else "",
        "terms": _terms_text(terms),
        "due_date": due.isoformat(),
        "early_payment": early,
        "installments": _installments(doc, order, total, due, trace),
        "hold": _hold(doc, order, total, trace) if doc else None,
        "credit_notes": _credit_notes(order, spec.get("credit_notes")),
        "reissue": {"allowed": reissue["allowed"], "window_days": reissue["window_days"]},
        "void": void,
        "reminders": sorted(
            (due + dt.timedelta(days=int(r["days_after_due"]))).isoformat()
            for r in spec.get("reminders") or ()),
    }
