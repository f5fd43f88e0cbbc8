"""Journal entries for an invoice and its recognition schedule (double entry, balanced).

On the invoice date: debit receivable (total), credit deferred revenue (net) and tax payable
(tax). In each recognition period: debit deferred revenue, credit revenue. Debits equal
credits because total = net + tax and the schedule sums to the net.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.model import Order, TraceEntry
from engine.money import exponent, formatter, minor_text

ZERO = Decimal(0)


def journal_entries(order: Order, per_period: dict[str, int], totals: dict[str, Decimal],
                    trace: list[TraceEntry]) -> list[dict[str, Any]]:
    """Entries in order: the invoice entry, then one pair per recognition period (sorted).

    `per_period` is the recognised amount per `YYYY-MM`, in integer minor units.
    """
    currency = order.currency
    e = exponent(currency)
    money = formatter(currency)
    text = minor_text(e)
    zero = text(0)
    period = f"{order.date.year:04d}-{order.date.month:02d}"
    # (entry, period, account, side, amount text); the other side is zero
    rows = [("invoice", period, "receivable", True, money(totals["total"])),
            ("invoice", period, "deferred_revenue", False, money(totals["net"]))]
    if totals["tax"]:
        rows.append(("invoice", period, "tax_payable", False, money(totals["tax"])))
    for month in sorted(per_period):
        amount = text(per_period[month])
        rows.append(("recognition", month, "deferred_revenue", True, amount))
        rows.append(("recognition", month, "revenue", False, amount))
    out = []
    append = trace.append
    for k, (kind, when, account, debit, amount) in enumerate(rows):
        out.append({"entry": kind, "period": when, "account": account,
                    "debit": amount if debit else zero, "credit": zero if debit else amount})
        # a zero debit is traced on the credit side (both sides read zero then)
        value = Decimal(amount)
        side = "debit" if debit and value else "credit"
        append(TraceEntry(f"recognition.journal[{k}].{side}", "journal", "", value,
                          {"account": account, "period": when}))
    return out


def balanced(journal: list[dict[str, Any]]) -> bool:
    """True when the debits of the journal equal its credits."""
    debit = sum((Decimal(e["debit"]) for e in journal), ZERO)
    credit = sum((Decimal(e["credit"]) for e in journal), ZERO)
    return debit == credit
