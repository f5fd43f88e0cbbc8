"""Data cases under tests/cases/cel: compile errors (code, line, column) and evaluation results.

Every case runs on both backends: they must reject the same expressions at the same place and
give the same answers. Evaluation cases also run on the C++ backend with its Python fast path
for simple conditions turned off (`cel-expr-runtime`), so both of its paths are exercised.
Expected values were worked out by hand from the fixture order below.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.bundle import Bundle, PolicyDoc
from engine.cel import CelCompileError, get_backend
from engine.context import CelScope
from engine.errors import BillplaneError, Location
from engine.model import Order, OrderLine, Period, PricedLine

CASES = Path(__file__).parent / "cases" / "cel"
BACKENDS = ["cel-expr", "cel-python"]

PRODUCTS = {
    "SEAT": {"sku": "SEAT", "type": "subscription", "unit": "seat", "name": "Platform seat"},
    "SUPPORT": {"sku": "SUPPORT", "type": "service", "unit": "hour", "name": "Support"},
    "ONBOARD": {"sku": "ONBOARD", "type": "one_off", "name": "Onboarding"},
}
# line amounts used by cases with `priced: true` (GBP, 2 minor digits)
AMOUNTS = [Decimal("250.00"), Decimal("300.00"), Decimal("99.99")]


def fixture_order() -> Order:
    """ORD-1: an enterprise business customer in London buying three products."""
    customer = {"id": "C-1", "name": "Acme Ltd", "country": "GB", "type": "business",
                "segment": "enterprise", "since": dt.date(2024, 6, 1),
                "address": {"city": "London", "country": "GB"}}
    lines = [
        OrderLine(0, "SEAT", Decimal("10"),
                  period=Period(dt.date(2026, 3, 1), dt.date(2027, 3, 1))),
        OrderLine(1, "SUPPORT", Decimal("2.5"), attributes={"tier": "gold"}),
        OrderLine(2, "ONBOARD", Decimal("1")),
    ]
    return Order("ORD-1", dt.date(2026, 3, 15), "GBP", "acme-uk", customer, lines,
                 coupons=("WELCOME10",), attributes={"channel": "web"})


def _load(kind: str) -> list[Any]:
    runners = BACKENDS + ["cel-expr-runtime"] if kind == "eval" else BACKENDS
    params = []
    for path in sorted((CASES / kind).glob("*.yaml")):
        case = yaml.safe_load(path.read_text())
        rep = case.get("expression_repeat")
        if rep:
            case["expression"] = rep["prefix"] + rep["repeat"] * rep["times"] + rep["suffix"]
        for backend in runners:
            params.append(pytest.param(case, backend, id=f"{path.stem}-{backend}"))
    return params


@pytest.mark.parametrize(("case", "backend"), _load("compile"))
def test_compile_error(case: dict[str, Any], backend: str) -> None:
    with pytest.raises(CelCompileError) as info:
        get_backend(backend).compile(case["expression"], case["context"])
    err = info.value
    assert (err.code, err.line, err.column) == (case["code"], case["line"], case["column"]), \
        err.message
    # readable: one line, no runtime status prefix, no caret snippet
    assert "\n" not in err.message and "INVALID_ARGUMENT" not in err.message
    assert err.message.strip()


def _scope(backend: str, program: Any, priced: bool, fast: bool = True
           ) -> tuple[CelScope, PolicyDoc]:
    doc = PolicyDoc("PricingRule", "case-rule", {}, Location("rules/case.yaml", 7, 3))
    bundle = Bundle("rev", "digest", {doc.name: doc}, backend=backend,
                    programs={(doc.name, "spec.when"): program}, products=PRODUCTS)
    order = fixture_order()
    scope = CelScope(bundle, order, get_backend(backend), fast=fast)
    if priced:
        scope.set_line_amounts([
            PricedLine(line, PRODUCTS[line.sku], PRODUCTS[line.sku]["type"], "core", "flat",
                       None, amount) for line, amount in zip(order.lines, AMOUNTS, strict=True)
        ], 2)
    return scope, doc


def _evaluate(scope: CelScope, doc: PolicyDoc, case: dict[str, Any]) -> bool:
    if case["context"] == "line":
        return scope.line_true(doc, "when", case["line"])
    if case["context"] == "validation":
        return scope.validation_true(doc, "when", case.get("invoice") or {})
    return scope.order_true(doc, "when")


@pytest.mark.parametrize(("case", "backend"), _load("eval"))
def test_evaluation(case: dict[str, Any], backend: str) -> None:
    fast = backend != "cel-expr-runtime"
    backend = backend.removesuffix("-runtime")
    program = get_backend(backend).compile(case["expression"], case["context"])
    scope, doc = _scope(backend, program, bool(case.get("priced")), fast)
    if "expect_error" in case:
        with pytest.raises(BillplaneError) as info:
            _evaluate(scope, doc, case)
        diag = info.value.diagnostics[0]
        assert diag.code == case["expect_error"]
        assert (diag.rule, diag.location) == ("case-rule", Location("rules/case.yaml", 7, 3))
    else:
        assert _evaluate(scope, doc, case) is case["expect"]


def test_every_case_directory_has_cases() -> None:
    assert len(list((CASES / "compile").glob("*.yaml"))) >= 20
    assert len(list((CASES / "eval").glob("*.yaml"))) >= 30
