"""The validation stage: ValidationRules over the order and the computed invoice.

`when` (optional) selects the invoices a rule checks; `assert` must then hold, else a
violation. `error` violations block issuance, `warning` ones annotate the invoice.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_CEILING, Decimal
from typing import Any

from engine.bundle import Bundle
from engine.errors import Diagnostic, Location
from engine.model import Order, PricedLine, Violation
from engine.money import to_minor

SEVERITY_ORDER = {"error": 0, "warning": 1}
_CURRENCIES_KEY = "validation.seller_currencies"


def seller_currencies(bundle: Bundle) -> dict[str, frozenset[str]]:
    """Per seller, the currencies its InvoiceSeries declare (`currencies`); built once per
    bundle."""
    found = bundle.index.get(_CURRENCIES_KEY)
    if found is None:
        sets: dict[str, set[str]] = {}
        for doc in bundle.kind("InvoiceSeries"):
            if doc.spec.get("currencies"):
                sets.setdefault(str(doc.spec["seller"]), set()).update(
                    str(c) for c in doc.spec["currencies"])
        found = bundle.index[_CURRENCIES_KEY] = {k: frozenset(v) for k, v in sets.items()}
    return found


def currency_supported(bundle: Bundle, order: Order) -> bool:
    """True when an InvoiceSeries of the order's seller lists the order currency."""
    return order.currency in seller_currencies(bundle).get(order.seller, frozenset())


def unsupported_currency(bundle: Bundle, order: Order) -> Diagnostic | None:
    """Why the seller cannot invoice in the order currency, when its series say which
    currencies it does invoice in and this is not one of them; else None."""
    declared = seller_currencies(bundle).get(order.seller)
    if declared is None or order.currency in declared:
        return None
    return Diagnostic("unsupported_currency",
                      f"seller {order.seller} invoices in {', '.join(sorted(declared))},"
                      f" not {order.currency}", Location("order.currency"))


def max_discount_percent(lines: list[PricedLine]) -> int:
    """The largest discount of a line as a percent of its amount, rounded up (30.01 -> 31),
    so that any discount over a whole percent fails a `<= N` check."""
    worst = 0
    for line in lines:
        if line.amount > 0 and line.discounts:
            discount = line.discount_total
            if discount > 0:
                percent = discount * 100 / line.amount
                worst = max(worst, int(percent.to_integral_value(rounding=ROUND_CEILING)))
    return worst


def invoice_view(bundle: Bundle, order: Order, lines: list[PricedLine],
                 totals: dict[str, Decimal]) -> dict[str, Any]:
    """The `invoice` CEL variable: totals in integer minor units and the derived checks."""
    currency = order.currency
    return {
        "subtotal_minor": to_minor(totals["subtotal"], currency),
        "discount_minor": to_minor(totals["discount"], currency),
        "tax_minor": to_minor(totals["tax"], currency),
        "total_minor": to_minor(totals["total"], currency),
        "max_discount_percent": max_discount_percent(lines),
        "approvals": list(order.approvals),
        "currency_supported": currency_supported(bundle, order),
    }


def validate(bundle: Bundle, order: Order, lines: list[PricedLine], totals: dict[str, Decimal],
             scope: Any, extra: Sequence[Violation] = ()) -> list[Violation]:
    """Violations of every ValidationRule plus `extra` (e.g. a credit hold), sorted by
    (severity, rule, code)."""
    docs = bundle.kind("ValidationRule")
    found = list(extra)
    if not docs:
        found.sort(key=_severity_rule_code)
        return found
    view = invoice_view(bundle, order, lines, totals)
    for doc in docs:
        if not scope.validation_true(doc, "spec.when", view):
            continue
        if scope.validation_true(doc, "spec.assert", view):
            continue
        spec = doc.spec
        found.append(Violation(
            rule=doc.name,
            severity=str(spec.get("severity", "error")),
            code=str(spec["code"]),
            message=str(spec.get("message") or f"{doc.name}: assertion failed"),
            where=doc.where,
        ))
    found.sort(key=_severity_rule_code)
    return found


def _severity_rule_code(v: Violation) -> tuple[int, str, str]:
    return SEVERITY_ORDER.get(v.severity, 9), v.rule, v.code
