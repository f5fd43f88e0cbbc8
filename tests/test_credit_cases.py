"""Credit data cases (tests/cases/credit/*.yaml): the payment object, dates counted by hand."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_tax_support import build, case_files, read_case

from engine.credit import hold_violation, payment_terms, split_even
from engine.errors import BillplaneError
from engine.invoice import violation_document
from engine.model import TraceEntry
from engine.pricing.proration import add_months

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
    if "error" in case:
        with pytest.raises(BillplaneError) as info:
            payment_terms(bundle, order, total, scope, trace)
        assert info.value.code == case["error"]["code"]
        assert str(info.value.diagnostics[0].location) == case["error"]["location"]
        return
    payment = payment_terms(bundle, order, total, scope, trace)
    _subset(payment, case["expect"], "payment")
    held = hold_violation(bundle, payment)
    # a hold always raises a violation (an error unless released by the named approval)
    assert (held is None) == (payment["hold"] is None)
    if "violations" in case:
        got = [violation_document(held)] if held else []
        assert got == case["violations"]
    if held is not None:  # located at the policy that holds the invoice (each case has one)
        assert held.where == "case.yaml:1"
    # installments always sum exactly to the total
    assert sum(Decimal(i["amount"]) for i in payment["installments"]) == total
    traced = {t["path"] for t in trace}
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


EU_ORDER: dict[str, Any] = {
    "id": "EX-EU-2001", "date": "2026-03-01", "currency": "EUR", "seller": "northwind-ie",
    "customer": {"id": "C-DE-B2B", "name": "Rheinwerk GmbH", "country": "DE",
                 "type": "business", "tax_id": "DE136695976", "segment": "smb",
                 "address": {"line1": "Rheinallee 1", "city": "Mainz", "postcode": "55116",
                             "country": "DE"},
                 "exposure": "5800.00"},
    "lines": [{"sku": "SEAT-MONTHLY", "quantity": "12",
               "period": {"start": "2026-03-01", "end": "2026-04-01"}},
              {"sku": "API-CALLS", "quantity": "20000"}],
}


def test_a_credit_hold_blocks_issuance_unless_approved() -> None:
    # the example smb-terms: EUR limit 6000.00; 5800.00 + 431.00 (reverse charged) is above it
    from api.sources import DirectorySource, load_from
    from engine.evaluate import evaluate, explain

    bundle = load_from(DirectorySource(Path(__file__).resolve().parent.parent / "policies"))
    invoice = evaluate(bundle, EU_ORDER)
    assert invoice.document["payment"]["hold"]["reason"] == "credit_limit_exceeded"
    assert invoice.blocked
    assert [(v.severity, v.code, v.rule, v.where) for v in invoice.violations] == [
        ("error", "credit_hold", "smb-terms", "credit/terms.yaml:21")]
    assert "error: credit_hold [smb-terms] (credit/terms.yaml:21)" in explain(invoice)
    approved = evaluate(bundle, dict(EU_ORDER, approvals=["credit"]))
    assert not approved.blocked
    assert [(v.severity, v.code) for v in approved.violations] == [
        ("warning", "credit_hold_approved")]
    within = dict(EU_ORDER, customer=dict(EU_ORDER["customer"], exposure="5569.00"))
    assert evaluate(bundle, within).violations == []
