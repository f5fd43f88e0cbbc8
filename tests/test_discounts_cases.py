"""Runs every discount case in tests/cases/discounts/ through the discount stage, on both
CEL backends, with policies built by the real loader."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.bundle import Bundle
from engine.context import CelScope
from engine.discounts import apply_discounts
from engine.loader import load_bundle
from engine.model import PricedLine, TraceEntry
from engine.money import exponent, fmt, quantize
from engine.order import parse_order
from engine.yamldoc import load_documents, to_plain

CASES = sorted((Path(__file__).parent / "cases" / "discounts").glob("*.yaml"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return str(value) if isinstance(value, Decimal) else value


def bundle_for(case: dict[str, Any], backend: str) -> Bundle:
    """The case's rules and a catalogue of its skus, through the real loader (JSON is YAML)."""
    products = {raw["sku"]: {"sku": raw["sku"], "type": raw.get("type", "one_off"),
                             "prices": [{"currency": case.get("currency", "GBP"),
                                         "model": "per_unit", "unit_amount": "1"}]}
                for raw in case["lines"]}
    docs = [{"apiVersion": "billplane.dev/v1", "kind": "PriceBook",
             "metadata": {"name": "book", "owner": "t"},
             "spec": {"products": list(products.values())}}]
    docs += [{"apiVersion": "billplane.dev/v1", "kind": "PricingRule",
              "metadata": {"name": r["name"], "owner": "t"}, "spec": _jsonable(r["spec"])}
             for r in case["rules"]]
    text = "\n---\n".join(json.dumps(d) for d in docs)
    return load_bundle({"rules.yaml": text.encode()}, "rev", backend)


def run_case(case: dict[str, Any], backend: str) -> tuple[list[PricedLine], list[TraceEntry]]:
    """Price nothing: the case gives line amounts; run the discount stage on them."""
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
    bundle = bundle_for(case, backend)
    trace: list[TraceEntry] = []
    scope = CelScope(bundle, order, backend)
    scope.set_line_amounts(lines, exponent(currency))
    apply_discounts(bundle, order, lines, scope, trace)
    return lines, trace


@pytest.mark.parametrize("backend", ["cel-expr", "cel-python"])
@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_discount_case(path: Path, backend: str) -> None:
    [raw] = load_documents(path.name, path.read_bytes())
    case = to_plain(raw)
    assert case.get("note")
    currency = case.get("currency", "GBP")
    lines, trace = run_case(case, backend)
    got = [[[d.rule, fmt(d.amount, currency), d.scope] + ([d.coupon] if d.coupon else [])
             for d in line.discounts] for line in lines]
    assert got == case["want"]
    for line in lines:
        assert line.amount - line.discount_total >= 0
        # in minor units: what the document shows is what the totals add up
        assert all(d.amount == quantize(d.amount, currency) for d in line.discounts)
    # every discount has its trace entry, pointing at its rule
    paths = {(t["path"], t["rule"], t["amount"]) for t in trace}
    for i, line in enumerate(lines):
        for k, d in enumerate(line.discounts):
            assert (f"lines[{i}].discounts[{k}].amount", d.rule, d.amount) in paths


def test_cases_exist() -> None:
    assert len(CASES) >= 15


def test_trace_says_what_can_have_cut_or_rounded_a_discount() -> None:
    # a discount the cap cut (200.00 -> 100.00) names the cap, and every discount its rounding
    [case] = [to_plain(d) for d in load_documents(
        "cap-per-order.yaml", (CASES[0].parent / "cap-per-order.yaml").read_bytes())]
    _, trace = run_case(case, "cel-expr")
    first = next(t for t in trace if t["path"] == "lines[0].discounts[0].amount")
    assert first["amount"] == Decimal("100.00")
    assert first["inputs"] == {"scope": "line", "base": "1000.00", "percent_off": "20",
                               "rounding": "half_up", "cap": "150"}
    case["rules"][0]["spec"] = {"scope": "line", "effect": {"amount_off": {"GBP": "10.005"}},
                                "rounding": "half_even", "max_percent": 50}
    _, trace = run_case(case, "cel-expr")
    assert trace[0]["inputs"] == {"scope": "line", "base": "1000.00", "amount_off": "10.005",
                                  "rounding": "half_even", "max_percent": "50"}
    assert trace[0]["amount"] == Decimal("10.00")
