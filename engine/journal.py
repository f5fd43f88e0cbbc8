"""Journal entries for an invoice and its recognition schedule (double entry, balanced).

Accounts (docs/invoice.md): `receivable` and `unbilled_receivable` (the contract asset) are
assets, `deferred_revenue` (the contract liability) and `tax_payable` liabilities, `revenue`
income. Revenue recognised in a period before the invoice period is earned before it is billed:
debit unbilled receivable, credit revenue, in that period. On the invoice date: debit receivable
(total), credit unbilled receivable (what was recognised before), deferred revenue (the rest of
the net) and tax payable (tax). In each later recognition period (the invoice period included):
debit deferred revenue, credit revenue. Every entry balances, and for an invoice of
non-negative amounts no account's balance ever goes below zero.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.model import DERIVED, Order, TraceEntry
from engine.money import exponent, formatter, minor_text

ZERO = Decimal(0)
# (entry, period, account, debit side?, amount text, trace inputs)
_Row = tuple[str, str, str, bool, str, dict[str, str] | None]


def journal_entries(order: Order, per_period: dict[str, int], totals: dict[str, Decimal],
                    trace: list[TraceEntry] | None,
                    members: dict[str, dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Entries by period: recognition before the invoice period, the invoice entry, then the
    recognition of the invoice period and later ones.

    `per_period` is the recognised amount per `YYYY-MM`, in integer minor units; `members`
    names, per period, the schedule amounts (document path -> text) it sums, for the trace
    (None: no trace).
    """
    currency = order.currency
    e = exponent(currency)
    money = formatter(currency)
    text = minor_text(e)
    zero = text(0)
    day = order.invoiced
    invoiced = f"{day.year:04d}-{day.month:02d}"
    members = members or {}
    months = sorted(per_period)
    rows: list[_Row] = []
    tracing = trace is not None

    def recognised(month: str, account: str) -> None:
        amount = text(per_period[month])
        if not tracing:
            rows.append(("recognition", month, account, True, amount, None))
            rows.append(("recognition", month, "revenue", False, amount, None))
            return
        debit = f"recognition.journal[{len(rows)}].debit"
        rows.append(("recognition", month, account, True, amount,
                     {"formula": f"sum of recognition.schedule[].amount in {month}",
                      **members.get(month, {})}))
        rows.append(("recognition", month, "revenue", False, amount,
                     {"formula": debit, debit: amount}))

    earlier = [m for m in months if m < invoiced]
    for month in earlier:
        recognised(month, "unbilled_receivable")
    total, net, tax = money(totals["total"]), money(totals["net"]), money(totals["tax"])
    rows.append(("invoice", invoiced, "receivable", True, total,
                 {"formula": "totals.total", "totals.total": total}))
    deferred = {"formula": "totals.net", "totals.net": net}
    if earlier:
        unbilled = {f"recognition.journal[{2 * k}].debit": rows[2 * k][4]
                    for k in range(len(earlier))}
        path = f"recognition.journal[{len(rows)}].credit"
        units = sum(per_period[m] for m in earlier)
        rows.append(("invoice", invoiced, "unbilled_receivable", False, text(units),
                     {"formula": "sum of recognition.journal[].debit to unbilled_receivable"
                                 f" before {invoiced}", **unbilled}))
        deferred = {"formula": f"totals.net - {path}", "totals.net": net, path: text(units)}
        net = text(int(totals["net"].scaleb(e)) - units)
    rows.append(("invoice", invoiced, "deferred_revenue", False, net, deferred))
    if totals["tax"]:
        rows.append(("invoice", invoiced, "tax_payable", False, tax,
                     {"formula": "totals.tax", "totals.tax": tax}))
    for month in months[len(earlier):]:
        recognised(month, "deferred_revenue")
    out = [{"entry": kind, "period": when, "account": account,
             "debit": amount if debit else zero, "credit": zero if debit else amount}
           for kind, when, account, debit, amount, _ in rows]
    if trace is not None:
        append = trace.append
        for k, (_, when, account, debit, amount, inputs) in enumerate(rows):
            # a row carries its amount on one side, the other is zero; a zero row is traced
            # on the credit side
            side = "debit" if debit and amount != zero else "credit"
            # each traced row's inputs are a dict of its own, built above: the account and
            # period are added to it (after its keys, as a copy would have them), not copied
            entry_inputs = {} if inputs is None else inputs
            entry_inputs["account"] = account
            entry_inputs["period"] = when
            append({"path": f"recognition.journal[{k}].{side}", "rule": DERIVED, "where": "",
                    "amount": amount, "inputs": entry_inputs})
    return out


def balanced(journal: list[dict[str, Any]]) -> bool:
    """True when the debits of the journal equal its credits."""
    debit = sum((Decimal(e["debit"]) for e in journal), ZERO)
    credit = sum((Decimal(e["credit"]) for e in journal), ZERO)
    return debit == credit
