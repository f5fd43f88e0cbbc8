"""ValidationRules: when/assert over order, customer and the invoice view; sorted violations."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from test_tax_support import build, totals

from engine.errors import BillplaneError
from engine.evaluate import evaluate
from engine.loader import load_bundle
from engine.validation import invoice_view, max_discount_percent, validate

RULES = """\
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: book}
spec:
  products:
    - sku: GBP-ONLY
      type: one_off
      prices: [{currency: GBP, model: flat, amount: 100.00}]
    - sku: BOTH
      type: one_off
      prices:
        - {currency: GBP, model: flat, amount: 100.00}
        - {currency: EUR, model: flat, amount: 110.00, effective: {until: 2001-01-01}}
---
apiVersion: billplane.dev/v1
kind: ValidationRule
metadata: {name: b-vat-id}
spec:
  severity: error
  code: missing_vat_id
  when: "customer.type == 'business'"
  assert: "customer.tax_id != ''"
  message: Business customers need a VAT ID
---
apiVersion: billplane.dev/v1
kind: ValidationRule
metadata: {name: a-large}
spec:
  severity: warning
  code: large_invoice
  assert: "invoice.total_minor <= 10000"
  message: Large invoice
---
apiVersion: billplane.dev/v1
kind: ValidationRule
metadata: {name: c-discount}
spec:
  code: discount_needs_approval
  when: "invoice.max_discount_percent > 30"
  assert: "'discount' in invoice.approvals"
---
apiVersion: billplane.dev/v1
kind: ValidationRule
metadata: {name: d-currency}
spec:
  severity: error
  code: unsupported_currency
  assert: "invoice.currency_supported"
  message: Currency not supported
---
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: s-gbp}
spec: {seller: s, series: S, format: "S-{number}", currencies: [GBP]}
---
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: s-eur}
spec: {seller: s, series: SE, format: "SE-{number}", currencies: [EUR], priority: 200,
       when: "order.currency == 'EUR'"}
---
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: t-any}
spec: {seller: t, series: T, format: "T-{number}"}
"""


def _case(customer: dict[str, Any], lines: list[dict[str, Any]], currency: str = "GBP",
          approvals: tuple[str, ...] = (), seller: str = "s") -> dict[str, Any]:
    order = {"id": "O", "date": "2026-03-01", "currency": currency, "seller": seller,
             "customer": {"id": "C", "country": "GB", **customer},
             "lines": [{"sku": spec["sku"], "quantity": "1"} for spec in lines]}
    if approvals:
        order["approvals"] = list(approvals)
    return {"policies": RULES, "order": order, "lines": lines}


def _violations(case: dict[str, Any], tax: str = "0") -> list[tuple[str, str, str, str]]:
    bundle, order, lines, scope = build(case)
    found = validate(bundle, order, lines, totals(lines, Decimal(tax)), scope)
    return [(v.severity, v.rule, v.code, v.message) for v in found]


def test_clean_invoice_has_no_violation() -> None:
    case = _case({"type": "business", "tax_id": "GB1"}, [{"sku": "GBP-ONLY", "amount": "99.99"}])
    assert _violations(case) == []


def test_violations_sorted_by_severity_rule_code() -> None:
    # total 100.00 + 0.01 tax = 10001 minor units > 10000: large; business without VAT ID
    case = _case({"type": "business"}, [{"sku": "GBP-ONLY", "amount": "100.00"}])
    assert _violations(case, tax="0.01") == [
        ("error", "b-vat-id", "missing_vat_id", "Business customers need a VAT ID"),
        ("warning", "a-large", "large_invoice", "Large invoice"),
    ]


def test_when_false_skips_the_assert() -> None:
    case = _case({"type": "consumer"}, [{"sku": "GBP-ONLY", "amount": "1.00"}])
    assert _violations(case) == []


def test_default_severity_is_error_and_default_message_names_the_rule() -> None:
    # 100.00 less 30.01 = 30.01 %: rounded up to 31 > 30 and no approval
    case = _case({"type": "consumer"},
                 [{"sku": "GBP-ONLY", "amount": "100.00", "discounts": ["30.01"]}])
    assert _violations(case) == [("error", "c-discount", "discount_needs_approval",
                                  "c-discount: assertion failed")]


def test_approval_satisfies_the_discount_rule() -> None:
    case = _case({"type": "consumer"},
                 [{"sku": "GBP-ONLY", "amount": "100.00", "discounts": ["50.00"]}],
                 approvals=("discount",))
    assert _violations(case) == []


def test_exactly_thirty_percent_is_not_above_thirty() -> None:
    case = _case({"type": "consumer"},
                 [{"sku": "GBP-ONLY", "amount": "100.00", "discounts": ["30.00"]}])
    assert _violations(case) == []


def test_currency_supported_is_what_the_sellers_series_declare() -> None:
    # seller s declares GBP and EUR over two series; prices play no part (GBP-ONLY in EUR)
    for currency in ("GBP", "EUR"):
        ok = _case({"type": "consumer"}, [{"sku": "GBP-ONLY", "amount": "1.00"}],
                   currency=currency)
        assert _violations(ok) == []
    unsupported = [("error", "d-currency", "unsupported_currency", "Currency not supported")]
    usd = _case({"type": "consumer"}, [{"sku": "BOTH", "amount": "1.00"}], currency="USD")
    assert _violations(usd) == unsupported
    # a seller whose series declare no currencies, and a seller without a series, invoice in
    # none: the check has nothing to go on
    for seller in ("t", "nobody"):
        case = _case({"type": "consumer"}, [{"sku": "BOTH", "amount": "1.00"}], seller=seller)
        assert _violations(case) == unsupported


def test_an_unpriced_currency_the_seller_does_not_invoice_in_names_both() -> None:
    bundle = load_bundle({"case.yaml": RULES.encode("utf-8")})
    order = _case({"type": "consumer"}, [{"sku": "GBP-ONLY"}], currency="USD")["order"]
    with pytest.raises(BillplaneError) as info:
        evaluate(bundle, order)
    assert [(d.code, str(d.location)) for d in info.value.diagnostics] == [
        ("unsupported_currency", "order.currency"), ("no_price", "order.lines[0].sku")]
    assert info.value.diagnostics[0].message == "seller s invoices in EUR, GBP, not USD"
    # a seller that declares nothing gets the pricing error alone
    with pytest.raises(BillplaneError) as info:
        evaluate(bundle, dict(order, seller="t"))
    assert [d.code for d in info.value.diagnostics] == ["no_price"]


def test_invoice_view_fields_in_minor_units() -> None:
    case = _case({"type": "consumer"},
                 [{"sku": "GBP-ONLY", "amount": "200.00", "discounts": ["20.00"]},
                  {"sku": "BOTH", "amount": "10.00", "discounts": ["2.50"]}],
                 approvals=("discount", "legal"))
    bundle, order, lines, _ = build(case)
    view = invoice_view(bundle, order, lines, totals(lines, Decimal("36.25")))
    assert view == {"subtotal_minor": 21000, "discount_minor": 2250, "tax_minor": 3625,
                    "total_minor": 18750 + 3625, "max_discount_percent": 25,
                    "approvals": ["discount", "legal"], "currency_supported": True}
    assert max_discount_percent([]) == 0
