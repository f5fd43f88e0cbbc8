"""Document lines and totals: amounts as priced, and subtotal / discount / net on one basis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from test_trace_coverage import check_formula

from engine.derived import totals_entries
from engine.invoice import TOTAL_KEYS, line_document, totals_of
from engine.model import Discount, OrderLine, PricedLine, TaxCharge, TraceEntry
from engine.money import formatter


def _line(amount: str, discount: str, tax: str, inclusive: bool, in_discount: str = "0"
          ) -> PricedLine:
    """A priced line as the tax stage leaves it (one 20% VAT charge)."""
    gross = Decimal(amount) - Decimal(discount)
    included = Decimal(tax) if inclusive else Decimal(0)
    return PricedLine(
        OrderLine(0, "X", Decimal(1)), {}, "one_off", "book", "flat", Decimal(amount),
        Decimal(amount), discounts=[Discount("coupon-10", Decimal(discount))],
        taxes=[TaxCharge("uk-vat", "vat", "GB", Decimal(20), gross - included, Decimal(tax),
                         inclusive=inclusive)],
        included_tax=included, discount_included_tax=Decimal(in_discount))


def _document(lines: list[PricedLine]) -> tuple[dict[str, Any], list[TraceEntry]]:
    trace: list[TraceEntry] = []
    docs = [line_document(line, "GBP", 2, trace.append, k) for k, line in enumerate(lines)]
    totals = totals_of(lines)
    texts = {k: formatter("GBP")(totals[k]) for k in TOTAL_KEYS}
    totals_entries(totals, texts, docs, trace.append)
    return {"lines": docs, "totals": texts}, trace


def _fields(doc: dict[str, Any], *names: str) -> list[str]:
    return [doc[name] for name in names]


def test_a_discounted_price_including_tax_is_shown_on_one_basis() -> None:
    # 10.00 including 20% VAT, 10% off: VAT on 9.00 is 1.50; the VAT of the undiscounted price
    # is 1.67, so the discount holds 0.17 of VAT (the tax stage says so). Exclusive of VAT:
    # subtotal 10.00 - 1.67 = 8.33, discount 1.00 - 0.17 = 0.83, net 7.50
    inclusive = _line("10.00", "1.00", "1.50", True, in_discount="0.17")
    # and an ordinary line: 100.00 less 10.00, VAT 18.00 on top
    exclusive = _line("100.00", "10.00", "18.00", False)
    doc, trace = _document([inclusive, exclusive])
    first, second = doc["lines"]
    assert _fields(first, "amount", "discount_total", "subtotal", "discount", "net",
                   "tax_total", "total") == ["10.00", "1.00", "8.33", "0.83", "7.50", "1.50",
                                             "9.00"]
    assert _fields(second, "amount", "discount_total", "subtotal", "discount", "net",
                   "tax_total", "total") == ["100.00", "10.00", "100.00", "10.00", "90.00",
                                             "18.00", "108.00"]
    assert doc["totals"] == {"subtotal": "108.33", "discount": "10.83", "net": "97.50",
                             "tax": "19.50", "total": "117.00"}
    # every derived amount says what it comes from, and adds up
    entries = {t["path"]: t for t in trace}
    assert entries["lines[0].discount"]["inputs"] == {
        "formula": "lines[0].discount_total - discount_included_tax",
        "lines[0].discount_total": "1.00", "discount_included_tax": "0.17"}
    assert entries["lines[1].discount"]["inputs"]["formula"] == "lines[1].discount_total"
    assert entries["lines[0].net"]["inputs"]["formula"] == (
        "lines[0].amount - lines[0].discount_total - lines[0].tax[0].amount")
    for entry in trace:
        check_formula(entry, doc)


INCLUSIVE = {
    "book.yaml": b"""
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: book}
spec:
  products:
    - sku: PLAN
      type: one_off
      prices: [{currency: GBP, model: flat, amount: 10.00}]
---
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: coupon-10}
spec:
  coupon: TEN
  effect: {percent_off: 10}
---
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: uk-vat-incl}
spec:
  tax: vat
  jurisdiction: {country: GB}
  rates: [{rate: 20}]
  inclusive: true
""",
}


def test_an_evaluated_inclusive_price_with_a_coupon_reads_on_one_basis() -> None:
    from test_trace_coverage import check_trace

    from engine.evaluate import evaluate
    from engine.loader import load_bundle

    bundle = load_bundle(INCLUSIVE, "r")
    order = {"id": "O", "date": "2026-03-01", "currency": "GBP", "seller": "acme-uk",
             "coupons": ["TEN"], "customer": {"id": "C", "country": "GB", "type": "consumer"},
             "lines": [{"sku": "PLAN", "quantity": "1"}]}
    doc = evaluate(bundle, order).document
    line = doc["lines"][0]
    assert _fields(line, "amount", "discount_total", "subtotal", "discount", "net",
                   "tax_total", "total") == ["10.00", "1.00", "8.33", "0.83", "7.50", "1.50",
                                             "9.00"]
    assert doc["totals"] == {"subtotal": "8.33", "discount": "0.83", "net": "7.50",
                             "tax": "1.50", "total": "9.00"}
    check_trace(bundle, doc)
