"""The credit stage: the first matching CreditPolicy gives the invoice's `payment` object.

Due date = invoice date + net days (or the last day of the invoice month + net days when
`end_of_month`). Installments split the total exactly, the remainder on the first.
Credit notes are permitted unless a policy restricts them (corrections are credit notes);
reissue and void are permitted only when the policy says so. The API enforces the windows
and limits exposed here. A credit hold (exposure + total above the limit, or no limit in the
order currency) is an error violation that blocks issuance, unless the order carries the
approval the policy's `credit_limit.approval` names (then a warning records the release).
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.errors import Location, fail
from engine.model import DERIVED, Order, TraceEntry, Violation, trace_entry
from engine.money import exponent, fmt, formatter, quantize
from engine.pricing.proration import add_months

HUNDRED = Decimal(100)
HELD_WHEN = "exposure + total > limit"


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
    start = month_end(order.invoiced) if terms.get("end_of_month") else order.invoiced
    return start + dt.timedelta(days=int(terms.get("net_days", 0)))


def _window(order: Order, spec: dict[str, Any] | None, default_allowed: bool) -> dict[str, Any]:
    if spec is None:
        return {"allowed": default_allowed, "window_days": None, "until": None}
    allowed = bool(spec.get("allowed", True))
    days = spec.get("window_days")
    until = None
    if allowed and days is not None:
        until = (order.invoiced + dt.timedelta(days=int(days))).isoformat()
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
    money = formatter(currency)
    limits = limit_spec.get("amount") or {}
    exposure, total_text = money(order.exposure), money(total)
    limit = Decimal(str(limits[currency])) if currency in limits else None
    check = {"exposure": exposure, "total": total_text,
             "limit": "" if limit is None else money(limit), "held_when": HELD_WHEN}
    if limit is not None and order.exposure + total <= limit:
        # no hold: the check is still on record, with no amount of its own
        trace.append(trace_entry("payment.hold", doc.name, doc.where, None,
                                dict(check, result="within the limit")))
        return None
    # a policy that limits credit but names no limit in this currency cannot clear it
    reason = "no_credit_limit_for_currency" if limit is None else "credit_limit_exceeded"
    if limit is not None:
        trace.append(trace_entry("payment.hold.limit", doc.name, doc.where, limit, check))
    trace.append(trace_entry("payment.hold.exposure", "order", "order.customer.exposure",
                            order.exposure, {}))
    trace.append(trace_entry("payment.hold.total", DERIVED, "", total,
                            {"formula": "totals.total", "totals.total": total_text}))
    approval = limit_spec.get("approval")
    return {"reason": reason, "currency": currency,
            "limit": None if limit is None else money(limit),
            "exposure": exposure, "total": total_text,
            "approval": None if approval is None else str(approval),
            "approved": approval is not None and approval in order.approvals}


def hold_violation(bundle: Bundle, payment: dict[str, Any]) -> Violation | None:
    """The violation a credit hold raises: an error blocking issuance, or a warning when the
    order carries the approval the policy names for releasing it."""
    hold = payment.get("hold")
    if not hold:
        return None
    doc = bundle.docs[payment["policy"]]
    if hold["reason"] == "credit_limit_exceeded":
        why = (f"exposure {hold['exposure']} + invoice {hold['total']} exceeds the credit limit"
               f" {hold['limit']} {hold['currency']}")
    else:
        why = f"the credit limit names no amount in {hold['currency']}"
    approval = hold["approval"]
    if hold["approved"]:
        return Violation(doc.name, "warning", "credit_hold_approved",
                         f"credit hold ({hold['reason']}): {why}; released by the"
                         f" '{approval}' approval", doc.where)
    release = (f"; the '{approval}' approval releases it" if approval
               else "; the policy names no approval that releases it")
    return Violation(doc.name, "error", "credit_hold",
                     f"credit hold ({hold['reason']}): {why}{release}", doc.where)


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
        path = f"payment.installments[{i}].amount"
        if doc is None:  # no policy: one payment of the total
            entry = trace_entry(path, DERIVED, "", amount,
                               {"formula": "totals.total", "totals.total": fmt(total, currency)})
        else:
            entry = trace_entry(path, doc.name, doc.where, amount,
                               {"total": fmt(total, currency), "count": str(count),
                                "interval_months": str(interval)})
        trace.append(entry)
    return out


def payment_terms(bundle: Bundle, order: Order, total: Decimal, scope: Any,
                  trace: list[TraceEntry]) -> dict[str, Any]:
    """The `payment` object of the invoice (docs/invoice.md), amounts as decimal strings."""
    currency = order.currency
    if order.exposure < 0:
        raise fail("negative_exposure",
                   f"customer.exposure {order.exposure:f} is negative; exposure is the"
                   " customer's open receivables, zero or more",
                   Location("order.customer.exposure"))
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
        early = {"until": (order.invoiced + dt.timedelta(days=int(ep["days"]))).isoformat(),
                 "percent": percent_text(percent), "amount": fmt(amount, currency)}
        assert doc is not None
        trace.append(trace_entry("payment.early_payment.amount", doc.name, doc.where, amount,
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
