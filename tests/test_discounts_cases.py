"""Runs every discount case in tests/cases/discounts/ through the discount stage."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engine.bundle import Bundle, PolicyDoc
from engine.discounts import apply_discounts
from engine.errors import Location
from engine.model import Order, PricedLine, TraceEntry
from engine.money import fmt
from engine.order import parse_order
from engine.yamldoc import load_documents, to_plain

CASES = sorted((Path(__file__).parent / "cases" / "discounts").glob("*.yaml"))


class SubsetScope:
    """Evaluates the small CEL subset the cases use (==, !=, &&, ||) over plain values.

    It stands in for engine.context.CelScope so that these cases test discount semantics
    without depending on a CEL runtime.
    """

    def __init__(self, order: Order, lines: list[PricedLine]) -> None:
        self.order = order
        self.lines = lines
        self.customer = SimpleNamespace(**{"segment": "", **order.customer})

    @staticmethod
    def _python(expr: str) -> str:
        return re.sub(r"&&", " and ", re.sub(r"\|\|", " or ", expr))

    def order_true(self, doc: PolicyDoc, field: str) -> bool:
        expr = doc.spec[field.removeprefix("spec.")]
        return bool(eval(self._python(expr), {"customer": self.customer}))

    def line_true(self, doc: PolicyDoc, field: str, index: int) -> bool:
        expr = doc.spec[field.removeprefix("spec.")]
        priced = self.lines[index]
        line = SimpleNamespace(sku=priced.order_line.sku, product_type=priced.product_type,
                               index=index)
        return bool(eval(self._python(expr), {"customer": self.customer, "line": line}))


def run_case(case: dict[str, Any]) -> tuple[list[PricedLine], list[TraceEntry]]:
    currency = case.get("currency", "GBP")
    order = parse_order({
        "id": "O-1", "date": case.get("date", "2026-03-15"), "currency": currency,
        "seller": "acme", "customer": {"id": "C-1", "country": "GB", **case.get("customer", {})},
        "coupons": case.get("coupons", []),
        "lines": [{"sku": raw["sku"], "quantity": raw["quantity"]} for raw in case["lines"]],
    })
    lines = [
        PricedLine(order_line=ol, product={"sku": raw["sku"]},
                   product_type=raw.get("type", "one_off"), price_rule="book", model="per_unit",
                   unit_amount=None, amount=Decimal(raw["amount"]))
        for ol, raw in zip(order.lines, case["lines"], strict=True)
    ]
    docs = [PolicyDoc("PricingRule", r["name"], r["spec"],
                      Location(f"rules/{r['name']}.yaml", 1, 1)) for r in case["rules"]]
    docs.sort(key=lambda d: (d.spec.get("priority", 100), d.name))
    bundle = Bundle("rev", "digest", {d.name: d for d in docs}, by_kind={"PricingRule": docs})
    trace: list[TraceEntry] = []
    apply_discounts(bundle, order, lines, SubsetScope(order, lines), trace)
    return lines, trace


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_discount_case(path: Path) -> None:
    [raw] = load_documents(path.name, path.read_bytes())
    case = to_plain(raw)
    assert case.get("note")
    currency = case.get("currency", "GBP")
    lines, trace = run_case(case)
    got = [[[d.rule, fmt(d.amount, currency), d.scope] + ([d.coupon] if d.coupon else [])
             for d in line.discounts] for line in lines]
    assert got == case["want"]
    for line in lines:
        assert line.amount - line.discount_total >= 0
    # every discount has its trace entry, pointing at its rule
    paths = {(t.path, t.rule, t.amount) for t in trace}
    for i, line in enumerate(lines):
        for k, d in enumerate(line.discounts):
            assert (f"lines[{i}].discounts[{k}].amount", d.rule, d.amount) in paths


def test_cases_exist() -> None:
    assert len(CASES) >= 15
