"""Conditions evaluated together (all lines at once, or validation rules in one call) give the
same answers as one by one, and a failing condition still fails alone, with its own error."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from engine.bundle import Bundle, PolicyDoc
from engine.cel import Context, get_backend
from engine.cel.cpp import EVERY_LINE_LIMIT
from engine.context import CelScope
from engine.errors import BillplaneError, Location
from engine.model import Order, OrderLine

BACKENDS = ["cel-expr", "cel-python"]
PRODUCTS = {"A": {"type": "subscription", "name": "A plan"}, "B": {"type": "usage"}}
LINE_RULES: dict[str, str] = {
    "even": "line.units % 2 == 0",
    "big": "line.units >= 40 && order.currency == 'EUR'",
    "named": "line.description == 'A plan'",  # `description` is named by this rule only
    "divides": "100 / (line.units - 3) > 0",  # a runtime error on the line of 3 units only
}
VALIDATION_RULES: dict[str, str] = {
    "large": "invoice.total_minor > 100",
    "per-tax": "invoice.total_minor / invoice.tax_minor > 1",  # fails when tax_minor is 0
    "approved": "'discount' in invoice.approvals",
}


def _doc(name: str) -> PolicyDoc:
    return PolicyDoc("PricingRule", name, {}, Location(f"rules/{name}.yaml", 1, 1))


def _bundle(backend: str) -> Bundle:
    cel = get_backend(backend)
    sources: dict[tuple[str, str], tuple[str, Context]] = {
        (name, "spec.applies_to"): (expr, "line") for name, expr in LINE_RULES.items()}
    sources |= {(name, "spec.assert"): (expr, "validation")
                for name, expr in VALIDATION_RULES.items()}
    programs = {key: cel.compile(expr, ctx) for key, (expr, ctx) in sources.items()}
    docs = {name: _doc(name) for name, _ in sources}
    return Bundle("rev", "digest", docs, backend=backend, programs=programs, products=PRODUCTS)


def _order(count: int) -> Order:
    # line i has i units; even lines are product A, odd ones B
    lines = [OrderLine(i, "A" if i % 2 == 0 else "B", Decimal(i)) for i in range(count)]
    return Order("O-1", dt.date(2026, 1, 31), "EUR", "acme", {"id": "C", "country": "FR"}, lines)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("count", [10, EVERY_LINE_LIMIT, EVERY_LINE_LIMIT + 1, 150])
def test_line_conditions_of_small_and_large_orders(backend: str, count: int) -> None:
    scope = CelScope(_bundle(backend), _order(count), backend)
    for i in range(count):
        assert scope.line_true(_doc("even"), "spec.applies_to", i) is (i % 2 == 0)
        assert scope.line_true(_doc("big"), "spec.applies_to", i) is (i >= 40)
        assert scope.line_true(_doc("named"), "spec.applies_to", i) is (i % 2 == 0)
        if i == 3:
            with pytest.raises(BillplaneError) as info:
                scope.line_true(_doc("divides"), "spec.applies_to", i)
            assert info.value.code == "cel_eval_error"
            assert info.value.diagnostics[0].rule == "divides"
        else:
            # integer division: 100 / (i - 3) is positive while i - 3 <= 100
            assert scope.line_true(_doc("divides"), "spec.applies_to", i) is (3 < i <= 103)


@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_conditions_and_a_failing_one(backend: str) -> None:
    scope = CelScope(_bundle(backend), _order(2), backend)
    taxed = {"total_minor": 1200, "tax_minor": 200, "approvals": ["discount"]}
    assert scope.validation_true(_doc("large"), "spec.assert", taxed) is True
    assert scope.validation_true(_doc("per-tax"), "spec.assert", taxed) is True  # 1200 / 200
    assert scope.validation_true(_doc("approved"), "spec.assert", taxed) is True
    untaxed = {"total_minor": 100, "tax_minor": 0, "approvals": []}
    assert scope.validation_true(_doc("large"), "spec.assert", untaxed) is False
    assert scope.validation_true(_doc("approved"), "spec.assert", untaxed) is False
    with pytest.raises(BillplaneError) as info:
        scope.validation_true(_doc("per-tax"), "spec.assert", untaxed)
    assert info.value.code == "cel_eval_error"
    # a new invoice view is evaluated afresh
    assert scope.validation_true(_doc("large"), "spec.assert", taxed) is True
