"""Recognition data cases (tests/cases/recognition/*.yaml): schedules and journals by hand."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from test_tax_support import build, case_files, read_case, totals

from engine.errors import BillplaneError
from engine.journal import balanced
from engine.model import TraceEntry
from engine.recognition import recognise

FILES = case_files("recognition")


def test_there_are_recognition_cases() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_recognition_case(path: Path) -> None:
    case = read_case(path)
    bundle, order, lines, scope = build(case)
    expect = case["expect"]
    tax = Decimal(str(case.get("tax", "0")))
    trace: list[TraceEntry] = []
    if "error" in expect:
        with pytest.raises(BillplaneError) as info:
            recognise(bundle, order, lines, totals(lines, tax), trace, scope)
        assert info.value.code == expect["error"]
        return
    result = recognise(bundle, order, lines, totals(lines, tax), trace, scope)
    if "schedule" in expect:
        assert result["schedule"] == expect["schedule"]
    if "journal" in expect:
        assert result["journal"] == expect["journal"]
    if "methods" in expect:
        assert [line.recognition for line in lines] == expect["methods"]
    assert result["allocations"] == expect.get("allocations", [])
    # invariants: each line's schedule sums to its net (a bundled line's: to its allocation,
    # and a bundle's allocations to the bundle's net); the journal balances
    per_line: dict[int, Decimal] = defaultdict(Decimal)
    for entry in result["schedule"]:
        per_line[entry["line"]] += Decimal(entry["amount"])
    allocated = {a["line"]: Decimal(a["amount"]) for a in result["allocations"]}
    bundles: dict[str, Decimal] = defaultdict(Decimal)
    for a in result["allocations"]:
        bundles[a["bundle"]] += Decimal(a["amount"]) - Decimal(a["net"])
    assert set(bundles.values()) <= {Decimal(0)}
    for line in lines:
        index = line.order_line.index
        assert per_line[index] == allocated.get(index, line.net)
    assert balanced(result["journal"])
    receivable = [e for e in result["journal"] if e["account"] == "receivable"]
    assert [Decimal(e["debit"]) for e in receivable] == [totals(lines, tax)["total"]]


def test_without_a_scope_rules_are_matched_on_a_scope_of_their_own() -> None:
    # the staged pipeline calls recognise() without the scope: applies_to must still work
    case = read_case(FILES[0].parent / "method-resolution.yaml")
    bundle, order, lines, _ = build(case)
    recognise(bundle, order, lines, totals(lines), [])
    assert [line.recognition for line in lines] == case["expect"]["methods"]


def test_month_equivalents_count_anniversary_months_then_days() -> None:
    import datetime as dt
    from fractions import Fraction

    from engine.recognition import month_equivalents

    d = dt.date.fromisoformat
    assert month_equivalents(d("2026-01-15"), d("2026-04-15")) == 3
    assert month_equivalents(d("2026-01-15"), d("2026-04-20")) == Fraction(19, 6)  # 5/30
    assert month_equivalents(d("2026-01-31"), d("2026-03-31")) == 2  # 02-28 is a month on
    assert month_equivalents(d("2026-02-10"), d("2026-03-05")) == Fraction(23, 28)
    assert month_equivalents(d("2024-02-29"), d("2025-02-28")) == 12
