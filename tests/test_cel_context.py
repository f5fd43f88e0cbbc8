"""CelScope: views built once per order, programs evaluated by context, errors located."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest

from engine.bundle import Bundle, PolicyDoc
from engine.cel import Context, get_backend
from engine.cel.types import MESSAGES
from engine.context import CelScope
from engine.errors import BillplaneError, Location
from engine.model import Order, OrderLine, PricedLine

BACKENDS = ["cel-expr", "cel-python"]
PRODUCTS = {"A": {"type": "subscription", "name": "A plan"}, "B": {"type": "usage"}}


def _doc(name: str, line: int = 1) -> PolicyDoc:
    return PolicyDoc("PricingRule", name, {}, Location(f"rules/{name}.yaml", line, 1))


def _bundle(backend: str, sources: dict[tuple[str, str], tuple[str, Context]]) -> Bundle:
    cel = get_backend(backend)
    programs = {key: cel.compile(expr, ctx) for key, (expr, ctx) in sources.items()}
    docs = {name: _doc(name, i + 1) for i, (name, _) in enumerate(sorted(sources))}
    return Bundle("rev", "digest", docs, backend=backend, programs=programs, products=PRODUCTS)


def _order(skus: list[str], quantities: list[str], indexes: list[int] | None = None) -> Order:
    indexes = indexes if indexes is not None else list(range(len(skus)))
    lines = [OrderLine(i, sku, Decimal(q), attributes={"n": str(i)} if i % 2 else {})
             for i, sku, q in zip(indexes, skus, quantities, strict=True)]
    return Order("O-1", dt.date(2026, 1, 31), "EUR", "acme", {"id": "C", "country": "FR"}, lines)


@pytest.mark.parametrize("backend", BACKENDS)
def test_views_have_exactly_the_documented_fields(backend: str) -> None:
    scope = CelScope(_bundle(backend, {}), _order(["A"], ["1.75"]), backend)
    view = scope.order_view
    assert list(view) == [name for name, _ in MESSAGES["Order"]]
    assert list(view["customer"]) == [name for name, _ in MESSAGES["Customer"]]
    line = scope.line_views[0]
    assert list(line) == [name for name, _ in MESSAGES["Line"]]
    assert (line["quantity"], line["units"], line["product_type"]) == ("1.75", 1, "subscription")
    assert (view["date"], line["description"], line["unit"]) == ("2026-01-31", "A plan", "")


@pytest.mark.parametrize("backend", BACKENDS)
def test_absent_program_is_true(backend: str) -> None:
    scope = CelScope(_bundle(backend, {}), _order(["A"], ["1"]), backend)
    assert scope.order_true(_doc("none"), "when") is True
    assert scope.line_true(_doc("none"), "spec.applies_to", 0) is True
    assert scope.validation_true(_doc("none"), "assert", {}) is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_line_programs_use_the_line_index(backend: str) -> None:
    bundle = _bundle(backend, {
        ("big", "spec.applies_to"): ("line.units >= 5 && order.currency == 'EUR'", "line"),
        ("odd", "spec.applies_to"): ("'n' in line.attributes", "line"),
        ("same", "spec.applies_to"): ("order.lines.exists(l, l.index != line.index && "
                                       "l.sku == line.sku)", "line"),
    })
    # line indexes 3, 4, 7 (not positions): quantities 9.9, 4.99, 5
    scope = CelScope(bundle, _order(["A", "B", "A"], ["9.9", "4.99", "5"], [3, 4, 7]), backend)
    docs = bundle.docs
    assert [scope.line_true(docs["big"], "applies_to", i) for i in (3, 4, 7)] == \
        [True, False, True]
    assert [scope.line_true(docs["odd"], "applies_to", i) for i in (3, 4, 7)] == \
        [True, False, True]
    assert [scope.line_true(docs["same"], "applies_to", i) for i in (3, 4, 7)] == \
        [True, False, True]
    with pytest.raises(BillplaneError) as info:
        scope.line_true(docs["big"], "applies_to", 0)
    assert info.value.code == "cel_eval_error"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failing_line_program_does_not_disturb_the_others(backend: str) -> None:
    bundle = _bundle(backend, {
        ("a-fails-on-even", "spec.applies_to"): ("line.attributes['n'] == '1'", "line"),
        ("b-units", "spec.applies_to"): ("line.units == 2", "line"),
    })
    scope = CelScope(bundle, _order(["A", "A", "B"], ["1", "2", "2"]), backend)
    docs = bundle.docs
    assert [scope.line_true(docs["b-units"], "applies_to", i) for i in range(3)] == \
        [False, True, True]
    assert scope.line_true(docs["a-fails-on-even"], "applies_to", 1) is True
    with pytest.raises(BillplaneError) as info:
        scope.line_true(docs["a-fails-on-even"], "applies_to", 2)
    diag = info.value.diagnostics[0]
    assert (diag.code, diag.rule) == ("cel_eval_error", "a-fails-on-even")
    assert diag.location == docs["a-fails-on-even"].location
    assert "line.attributes['n']" in diag.message


@pytest.mark.parametrize("backend", BACKENDS)
def test_amounts_after_pricing_are_seen(backend: str) -> None:
    bundle = _bundle(backend, {
        ("line-amount", "spec.applies_to"): ("line.amount_minor > 1000", "line"),
        ("order-total", "spec.when"): ("order.subtotal_minor == 1551", "order"),
    })
    order = _order(["A", "B"], ["1", "3"])
    scope = CelScope(bundle, order, backend)
    docs = bundle.docs
    assert scope.line_true(docs["line-amount"], "applies_to", 0) is False
    assert scope.order_true(docs["order-total"], "when") is False
    # JPY-like exponent 0 would give 15 and 1; with 2 digits 10.50 -> 1050, 5.01 -> 501
    scope.set_line_amounts([
        PricedLine(order.lines[0], {}, "usage", "pb", "flat", None, Decimal("10.50")),
        PricedLine(order.lines[1], {}, "usage", "pb", "flat", None, Decimal("5.01")),
    ], 2)
    assert [v["amount_minor"] for v in scope.line_views] == [1050, 501]
    assert scope.line_true(docs["line-amount"], "applies_to", 0) is True
    assert scope.line_true(docs["line-amount"], "applies_to", 1) is False
    assert scope.order_true(docs["order-total"], "when") is True
    assert scope.line_views[0]["product_type"] == "usage"


@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_sees_each_invoice_view(backend: str) -> None:
    bundle = _bundle(backend, {("cap", "spec.assert"): (
        "invoice.max_discount_percent <= 30 || 'discount' in invoice.approvals", "validation")})
    scope = CelScope(bundle, _order(["A"], ["1"]), backend)
    doc = bundle.docs["cap"]
    assert scope.validation_true(doc, "assert", {"max_discount_percent": 30}) is True
    assert scope.validation_true(doc, "assert", {"max_discount_percent": 31}) is False
    assert scope.validation_true(doc, "assert", {"max_discount_percent": 31,
                                                 "approvals": ["discount"]}) is True


def test_concurrent_orders_keep_their_own_lines() -> None:
    bundle = _bundle("cel-expr", {
        ("pick", "spec.applies_to"): ("line.sku == 'B' && order.lines.size() > 1", "line")})
    doc = bundle.docs["pick"]
    failures: list[str] = []

    def work(skus: list[str]) -> None:
        for _ in range(300):
            scope = CelScope(bundle, _order(skus, ["1"] * len(skus)), "cel-expr")
            got = [scope.line_true(doc, "applies_to", i) for i in range(len(skus))]
            want = [s == "B" for s in skus]
            if got != want:
                failures.append(f"{skus}: {got}")

    threads = [threading.Thread(target=work, args=(skus,))
               for skus in (["A", "B", "A", "B"], ["B", "A", "A", "A", "B", "B"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_programs_are_evaluated_by_the_backend_that_compiled_them() -> None:
    bundle = _bundle("cel-python", {("r", "spec.when"): ("order.currency == 'EUR'", "order")})
    scope = CelScope(bundle, _order(["A"], ["1"]), "cel-expr")
    assert scope.backend.name == "cel-python"
    assert scope.order_true(bundle.docs["r"], "when") is True
