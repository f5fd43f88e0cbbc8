"""Journal entries for an invoice and its recognition schedule (double entry, balanced).

On the invoice date: debit receivable (total), credit deferred revenue (net) and tax payable
(tax). In each recognition period: debit deferred revenue, credit revenue. Debits equal
credits because total = net + tax and the schedule sums to the net.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.model import Order, TraceEntry
from engine.money import fmt

ZERO = Decimal(0)


def _entry(kind: str, period: str, account: str, debit: Decimal, credit: Decimal,
           currency: str) -> dict[str, Any]:
    return {"entry": kind, "period": period, "account": account,
            "debit": fmt(debit, currency), "credit": fmt(credit, currency)}


def journal_entries(order: Order, schedule: list[dict[str, Any]], totals: dict[str, Decimal],
                    trace: list[TraceEntry]) -> list[dict[str, Any]]:
    """Entries in order: the invoice entry, then one pair per recognition period (sorted).

    `schedule` amounts are Decimals here (the caller formats them afterwards).
    """
    currency = order.currency
    period = f"{order.date.year:04d}-{order.date.month:02d}"
    out = [_entry("invoice", period, "receivable", totals["total"], ZERO, currency),
           _entry("invoice", period, "deferred_revenue", ZERO, totals["net"], currency)]
    if totals["tax"]:
        out.append(_entry("invoice", period, "tax_payable", ZERO, totals["tax"], currency))
    per_period: dict[str, Decimal] = {}
    for item in schedule:
        per_period[item["period"]] = per_period.get(item["period"], ZERO) + item["amount"]
    for month in sorted(per_period):
        amount = per_period[month]
        out.append(_entry("recognition", month, "deferred_revenue", amount, ZERO, currency))
        out.append(_entry("recognition", month, "revenue", ZERO, amount, currency))
    for k, entry in enumerate(out):
        side = "debit" if Decimal(entry["debit"]) else "credit"
        trace.append(TraceEntry(f"recognition.journal[{k}].{side}", "journal", "",
                                Decimal(entry[side]),
                                {"account": entry["account"], "period": entry["period"]}))
    return out


def balanced(journal: list[dict[str, Any]]) -> bool:
    """True when the debits of the journal equal its credits."""
    debit = sum((Decimal(e["debit"]) for e in journal), ZERO)
    credit = sum((Decimal(e["credit"]) for e in journal), ZERO)
    return debit == credit
