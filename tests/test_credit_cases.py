"""Credit data cases (tests/cases/credit/*.yaml): the payment object, dates counted by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_tax_support import build, case_files, read_case

from engine.credit import add_months, payment_terms, split_even
from engine.model import TraceEntry

FILES = case_files("credit")


def _subset(got: Any, want: Any, path: str) -> None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key, value in want.items():
            assert key in got, f"{path}.{key} missing in {got}"
            _subset(got[key], value, f"{path}.{key}")
    else:
        assert got == want, f"{path}: expected {want!r}, got {got!r}"


def test_there_are_credit_cases() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_credit_case(path: Path) -> None:
    case = read_case(path)
    bundle, order, _, scope = build(case)
    trace: list[TraceEntry] = []
    total = Decimal(str(case["total"]))
    payment = payment_terms(bundle, order, total, scope, trace)
    _subset(payment, case["expect"], "payment")
    # installments always sum exactly to the total
    assert sum(Decimal(i["amount"]) for i in payment["installments"]) == total
    traced = {t.path for t in trace}
    for k in range(len(payment["installments"])):
        assert f"payment.installments[{k}].amount" in traced


def test_add_months_clamps_to_month_end() -> None:
    import datetime as dt

    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)


def test_split_even_puts_the_remainder_on_the_first() -> None:
    assert split_even(Decimal("100.01"), 3, "GBP") == [Decimal("33.35"), Decimal("33.33"),
                                                       Decimal("33.33")]
    assert split_even(Decimal("1000"), 3, "JPY") == [Decimal("334"), Decimal("333"),
                                                     Decimal("333")]
