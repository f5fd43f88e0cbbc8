"""Runs every pricing case in tests/cases/pricing/ through the pricing stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.bundle import Bundle, PolicyDoc
from engine.errors import BillplaneError, Location
from engine.money import fmt
from engine.order import parse_order
from engine.pricing import price_lines
from engine.yamldoc import load_documents, to_plain

CASES = sorted((Path(__file__).parent / "cases" / "pricing").glob("*.yaml"))


def load_case(path: Path) -> dict[str, Any]:
    [doc] = load_documents(path.name, path.read_bytes())
    return to_plain(doc)


def bundle_for(case: dict[str, Any]) -> Bundle:
    product = {"sku": "SKU-1", "name": "Thing", "type": case.get("product_type", "one_off"),
               "prices": case["prices"], **case.get("product", {})}
    spec = {"rounding": case.get("rounding", "half_up"), "products": [product]}
    book = PolicyDoc("PriceBook", "book", spec, Location("pricing/book.yaml", 1, 1))
    return Bundle("rev", "digest", {"book": book}, by_kind={"PriceBook": [book]},
                  products={"SKU-1": product})


def order_for(case: dict[str, Any]) -> dict[str, Any]:
    return {"id": "O-1", "date": case.get("date", "2026-03-15"), "currency": case["currency"],
            "seller": "acme", "customer": {"id": "C-1", "country": "GB"},
            "lines": [{"sku": "SKU-1", **case["line"]}]}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_pricing_case(path: Path) -> None:
    case = load_case(path)
    assert case.get("note"), "every case says where its numbers come from"
    bundle = bundle_for(case)
    order = parse_order(order_for(case))
    trace: list[Any] = []
    if "want_error" in case:
        with pytest.raises(BillplaneError) as err:
            price_lines(bundle, order, None, trace)
        assert err.value.code == case["want_error"]
        [diag] = err.value.diagnostics
        assert diag.location.file == case.get("want_location", diag.location.file)
        assert "SKU-1" in diag.message or "want_location" in case
        return
    [line] = price_lines(bundle, order, None, trace)
    want = case["want"]
    assert fmt(line.amount, case["currency"]) == want["amount"]
    if "unit_amount" in want:
        got = None if line.unit_amount is None else str(line.unit_amount)
        want_unit = want["unit_amount"]
        assert got == (None if want_unit is None else str(want_unit))
    if "model" in want:
        assert line.model == want["model"]
    [entry] = trace
    assert entry["path"] == "lines[0].amount" and entry["rule"] == "book"
    assert entry["amount"] == line.amount
    for key, value in want.get("inputs", {}).items():  # what the trace says it used
        assert entry["inputs"].get(key) == value, (key, entry["inputs"])


def test_cases_exist() -> None:
    assert len(CASES) >= 20
