"""The runtime iteration budget: batches that exceed it fall back, a program that does is a
located, coded error naming its rule (never an internal error)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from engine.bundle import Bundle, PolicyDoc
from engine.cel import get_backend, limits
from engine.context import CelScope
from engine.errors import BillplaneError, Location
from engine.model import Order, OrderLine

pytest.importorskip("cel_expr_python")

PRODUCTS = {f"P{i}": {"sku": f"P{i}", "type": "service", "name": f"P{i}"} for i in range(3)}


def _order(lines: int) -> Order:
    customer = {"id": "C-1", "name": "Acme", "country": "GB", "type": "business"}
    return Order("ORD-1", dt.date(2026, 3, 1), "GBP", "acme-uk", customer,
                 [OrderLine(i, f"P{i % 3}", Decimal(1)) for i in range(lines)])


def _scope(rules: dict[str, str], field: str, context: str, order: Order,
           backend: str = "cel-expr") -> tuple[CelScope, dict[str, PolicyDoc]]:
    cel = get_backend(backend)
    docs = {name: PolicyDoc("ValidationRule", name, {}, Location(f"v/{name}.yaml", 4, 1))
            for name in rules}
    programs: dict[tuple[str, str], Any] = {
        (name, f"spec.{field}"): cel.compile(expr, context)  # type: ignore[arg-type]
        for name, expr in rules.items()}
    bundle = Bundle("rev", "digest", docs, backend=backend, programs=programs,
                    products=PRODUCTS)
    return CelScope(bundle, order, cel), docs


def test_a_batch_over_the_budget_is_answered_program_by_program() -> None:
    # fifteen rules, twelve of which walk all 1,000 lines: 12,000 iterations in one batch
    rules = {f"r{i}": f"order.lines.all(l, l.sku != 'P{i}')" for i in range(15)}
    scope, docs = _scope(rules, "when", "order", _order(1000))
    got = {name: scope.order_true(doc, "when") for name, doc in docs.items()}
    assert got == {f"r{i}": i >= 3 for i in range(15)}


def test_line_programs_over_the_budget_together_are_evaluated_line_by_line() -> None:
    # 60 lines x 3 programs x 60 inner iterations: 10,800 in the every-line batch
    rules = {f"r{i}": f"order.lines.all(o, o.index != line.index + 100 + {i})" for i in range(3)}
    rules["next"] = "order.lines.exists(o, o.index == line.index + 1)"
    order = _order(60)
    scope, docs = _scope(rules, "applies_to", "line", order)
    got = [[scope.line_true(docs[name], "applies_to", line.index) for name in rules]
           for line in order.lines]
    assert got == [[True, True, True, k < 59] for k in range(60)]


def test_a_program_over_the_budget_is_a_located_error_of_its_rule(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # only an expression the static check would refuse can get there: let it through
    monkeypatch.setattr(limits, "ITERATION_BUDGET", 10**9)
    monkeypatch.setattr(limits, "COST_BUDGET", 10**9)
    rules = {"nested": "order.lines.all(a, order.lines.all(b, a.index + b.index >= 0))"}
    scope, docs = _scope(rules, "when", "order", _order(200))
    with pytest.raises(BillplaneError) as info:
        scope.order_true(docs["nested"], "when")
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.rule, diag.location) == (
        "cel_budget_exceeded", "nested", Location("v/nested.yaml", 4, 1))
    assert "comprehension iterations" in diag.message
