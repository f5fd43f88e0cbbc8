"""Tax data cases (tests/cases/tax/*.yaml): exact charges per line, worked by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_tax_support import build, case_files, money, read_case, totals

from engine.errors import BillplaneError
from engine.model import TraceEntry
from engine.tax import apply_taxes, tax_summary

FILES = case_files("tax")


def _charges(line: Any, currency: str) -> list[dict[str, Any]]:
    return [{"rule": t.rule, "jurisdiction": t.jurisdiction, "rate": f"{t.rate:f}",
             "taxable": money(t.taxable, currency), "amount": money(t.amount, currency),
             "inclusive": t.inclusive, "reverse_charge": t.reverse_charge,
             "exemption": t.exemption, "reason": t.reason} for t in line.taxes]


def test_there_are_tax_cases() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_tax_case(path: Path) -> None:
    case = read_case(path)
    bundle, order, lines, scope = build(case)
    trace: list[TraceEntry] = []
    expect = case["expect"]
    if "error" in expect:
        with pytest.raises(BillplaneError) as info:
            apply_taxes(bundle, order, lines, scope, trace)
        assert info.value.code == expect["error"]
        diag = info.value.diagnostics[0]
        assert diag.rule == expect.get("rule", diag.rule)
        if "location" in expect:  # a problem of the order: its field path
            assert diag.location.file == expect["location"], diag
        else:  # a problem of a rule: where it is
            assert diag.location.file == "case.yaml" and diag.location.line > 0
        return
    warnings = apply_taxes(bundle, order, lines, scope, trace)
    got_warnings = [{"rule": w.rule, "severity": w.severity, "code": w.code} for w in warnings]
    assert got_warnings == expect.get("violations", []), [w.message for w in warnings]
    currency = order.currency
    for i, want in enumerate(expect["lines"]):
        line = lines[i]
        got = _charges(line, currency)
        assert len(got) == len(want["tax"]), got
        for charge, wanted in zip(got, want["tax"], strict=True):
            for key, value in wanted.items():
                assert charge[key] == value, (i, key, charge)
        if "included_tax" in want:
            assert money(line.included_tax, currency) == want["included_tax"]
        if "net" in want:
            assert money(line.net, currency) == want["net"]
        if "discount_included_tax" in want:
            assert money(line.discount_included_tax, currency) == want["discount_included_tax"]
    if "exclusive_of_tax" in expect:
        # what the invoice shows on one basis: amounts and discounts without the tax they hold
        subtotal = sum((x.amount - x.included_tax - x.discount_included_tax for x in lines),
                       Decimal(0))
        discount = sum((x.discount_total - x.discount_included_tax for x in lines), Decimal(0))
        got_ex = {"subtotal": money(subtotal, currency), "discount": money(discount, currency),
                  "net": money(sum((x.net for x in lines), Decimal(0)), currency)}
        assert got_ex == expect["exclusive_of_tax"]
        assert subtotal - discount == sum((x.net for x in lines), Decimal(0))
    if "tax_summary" in expect:
        # the invoice's rows: each listed field as the document writes it
        rows = tax_summary(lines, currency)
        assert len(rows) == len(expect["tax_summary"]), rows
        for row, wanted in zip(rows, expect["tax_summary"], strict=True):
            for key, value in wanted.items():
                assert row[key] == value, (key, row)
    if "totals" in expect:
        got_totals = {k: money(v, currency) for k, v in totals(lines).items()}
        for key, value in expect["totals"].items():
            assert got_totals[key] == value, (key, got_totals)
    # every charge is traced with its rule, and an exemption's reason with it
    by_path = {t["path"]: t for t in trace}
    for i, line in enumerate(lines):
        for k, charge in enumerate(line.taxes):
            entry = by_path[f"lines[{i}].tax[{k}].amount"]
            assert entry["rule"] == charge.rule
            assert entry["inputs"].get("reason", "") == charge.reason
            assert entry["inputs"]["exemption"] == charge.exemption


CHARGING = [p for p in FILES if "error" not in read_case(p)["expect"]]


@pytest.mark.parametrize("path", CHARGING, ids=[p.stem for p in CHARGING])
def test_tax_case_untraced(path: Path) -> None:
    # without a trace (a replay's evaluation) every charge and line amount is the same
    case = read_case(path)
    traced, untraced = build(case), build(case)
    apply_taxes(*traced, [])
    apply_taxes(*untraced, None)
    currency = traced[1].currency
    for a, b in zip(traced[2], untraced[2], strict=True):
        assert _charges(b, currency) == _charges(a, currency)
        assert (b.included_tax, b.discount_included_tax, b.net) == (
            a.included_tax, a.discount_included_tax, a.net)
