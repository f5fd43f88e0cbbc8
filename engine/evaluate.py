"""Evaluate an order under a policy bundle: the stages of docs/design.md, in order."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import localcontext
from typing import Any

from engine.bundle import Bundle
from engine.context import CelScope
from engine.credit import hold_violation, payment_terms
from engine.discounts import apply_discounts
from engine.errors import BillplaneError, Location, fail
from engine.invoice import Invoice, build_document, totals_of
from engine.model import Order, TraceEntry, Violation
from engine.money import MAX_MINOR, PRECISION, exponent, in_range
from engine.order import parse_order
from engine.pricing import price_lines
from engine.recognition import recognise
from engine.series import select_series
from engine.tax import apply_taxes, tax_summary
from engine.validation import unsupported_currency, validate


def _as_of(value: str | None, order: Order) -> str:
    if value is None:
        return order.date.isoformat()
    try:
        return dt.date.fromisoformat(value).isoformat()
    except (TypeError, ValueError):
        raise fail("invalid_as_of", f"as_of {value!r} is not a date (YYYY-MM-DD)") from None


def evaluate(bundle: Bundle, order: dict[str, Any] | Order, as_of: str | None = None,
             backend: str | None = None, trace: bool = True) -> Invoice:
    """Price, discount, tax and check an order; returns the invoice with its trace.

    `as_of` is the invoice date (default: the order date): payment terms, windows and the
    journal's invoice entry run from it; prices, discounts and tax follow the order date.
    With `trace=False` no trace is recorded (the document's `trace` is empty) and every other
    field is the same: for callers that only compare invoices, such as a replay.

    The arithmetic is exact: it runs with `PRECISION` significant digits, and amounts are
    bounded by `MAX_MINOR` minor units (`amount_out_of_range`)."""
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return _evaluate(bundle, order, as_of, backend, trace)


def _evaluate(bundle: Bundle, order: dict[str, Any] | Order, as_of: str | None,
              backend: str | None, trace: bool) -> Invoice:
    parsed = parse_order(order)
    day = _as_of(as_of, parsed)
    if day != parsed.date.isoformat():
        parsed = replace(parsed, invoice_date=dt.date.fromisoformat(day))
    try:
        return _stages(bundle, parsed, day, backend, trace)
    except OverflowError:
        raise fail("date_out_of_range", "a date the policies work out from the order (a due "
                   "date, a period, a window) falls after 9999-12-31",
                   Location("order.date")) from None


def _stages(bundle: Bundle, parsed: Order, day: str, backend: str | None,
            tracing: bool) -> Invoice:
    currency = parsed.currency
    trace: list[TraceEntry] | None = [] if tracing else None
    # the small stages trace into a list that is dropped when there is no trace
    sink: list[TraceEntry] = trace if trace is not None else []
    try:
        scope = CelScope(bundle, parsed, backend)
    except ValueError as exc:  # an unknown backend name
        raise fail("unknown_backend", str(exc)) from None
    try:
        lines = price_lines(bundle, parsed, scope, trace)
    except BillplaneError as exc:
        # a product without a price in a currency the seller does not invoice in: say so
        cause = unsupported_currency(bundle, parsed)
        if cause is None:
            raise
        raise BillplaneError([*exc.diagnostics, cause]) from None
    scope.set_line_amounts(lines, exponent(currency))
    apply_discounts(bundle, parsed, lines, scope, trace)

    tax_warnings = apply_taxes(bundle, parsed, lines, scope, trace)
    summary = tax_summary(lines, currency)

    totals = totals_of(lines)
    if not in_range(totals["total"], currency):
        # taxes can take the total beyond what the lines come to
        raise fail("amount_out_of_range", f"the invoice total is more than an invoice can carry"
                   f" ({MAX_MINOR} minor units, the largest integer policies compute with)",
                   Location("order.lines"))

    payment = payment_terms(bundle, parsed, totals["total"], scope, sink)
    recognition = recognise(bundle, parsed, lines, totals, trace, scope=scope)
    series = select_series(bundle, parsed, scope)
    held = hold_violation(bundle, payment)
    # the tax stage's warnings and a credit hold join the ValidationRule results, sorted
    violations: list[Violation] = validate(bundle, parsed, lines, totals, scope,
                                           [*tax_warnings, held] if held else tax_warnings)

    document = build_document(
        bundle, parsed, lines, totals, as_of=day, payment=payment, recognition=recognition,
        series=series, violations=violations, trace=trace, tax_summary=summary)
    return Invoice(document, violations, trace if trace is not None else [], parsed, lines,
                   totals)


def explain(invoice: Invoice) -> str:
    """The trace as text: every amount, the rule (file:line) that produced it, its inputs."""
    doc = invoice.document
    currency = doc["currency"]
    provenance = doc["provenance"]
    out = [f"Invoice for order {doc['order_id']} dated {doc['date']} in {currency}"
           f" (revision {provenance['revision'] or '-'}, as of {provenance['as_of']})"]
    groups: dict[str, list[TraceEntry]] = {}
    for entry in invoice.trace:
        groups.setdefault(entry["path"].split(".", 1)[0], []).append(entry)
    # lines in index order first, then the other sections in document order
    heads = sorted((h for h in groups if h.startswith("lines[")), key=lambda h: int(h[6:-1]))
    heads += sorted((h for h in groups if not h.startswith("lines[")),
                    key=_section_rank)
    for head in heads:
        out.append("")
        out.append(_heading(head, doc))
        for entry in groups[head]:
            amount = entry["amount"]
            amount = "" if amount is None else str(amount)
            where = f" ({entry['where']})" if entry["where"] else ""
            out.append(f"  {entry['path']:<34} {amount:>14}  <- {entry['rule']}{where}")
            if entry["inputs"]:
                inputs = ", ".join(f"{k}={v}" for k, v in entry["inputs"].items())
                out.append(f"  {'':<34} {'':>14}     {inputs}")
    if invoice.violations:
        out.append("")
        out.append("violations:")
        for v in invoice.violations:
            where = f" ({v.where})" if v.where else ""
            out.append(f"  {v.severity}: {v.code} [{v.rule}]{where} {v.message}")
    out.append("")
    out.append("blocked: issuance refused (error violations)" if invoice.blocked
               else "issuable")
    return "\n".join(out)


_SECTIONS = ["tax_summary", "totals", "payment", "recognition"]


def _section_rank(head: str) -> int:
    name = head.split("[", 1)[0]
    return _SECTIONS.index(name) if name in _SECTIONS else len(_SECTIONS)


def _heading(head: str, doc: dict[str, Any]) -> str:
    if head.startswith("lines["):
        index = int(head[6:-1])
        for line in doc["lines"]:
            if line["index"] == index:
                return f"{head} {line['sku']} x {line['quantity']} ({line['description']})"
    return f"{head}:"
