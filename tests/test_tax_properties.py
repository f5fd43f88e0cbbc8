"""Properties of per-invoice rounding: one rounding of the exact sum, lines add up to it."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_tax_support import build, totals

from engine.tax import apply_taxes

POLICY = """\
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: vat}
spec:
  tax: vat
  jurisdiction: {country: GB}
  rates: [{rate: %s}]
  inclusive: %s
  rounding_level: invoice
"""

cents = st.integers(min_value=0, max_value=10**7).map(lambda n: Decimal(n).scaleb(-2))
rates = st.sampled_from(["5", "12.5", "17.5", "19", "20", "7.25", "21"])


@settings(max_examples=60, deadline=None)
@given(st.lists(cents, min_size=1, max_size=12), rates, st.booleans())
def test_per_invoice_tax_is_one_rounding_split_over_lines(
        amounts: list[Decimal], rate: str, inclusive: bool) -> None:
    case: dict[str, Any] = {
        "policies": POLICY % (rate, "true" if inclusive else "false"),
        "order": {"id": "O", "date": "2026-01-01", "currency": "GBP", "seller": "s",
                  "customer": {"id": "C", "country": "GB"},
                  "lines": [{"sku": "X", "quantity": "1"} for _ in amounts]},
        "lines": [{"amount": str(a)} for a in amounts]}
    bundle, order, lines, scope = build(case)
    apply_taxes(bundle, order, lines, scope, [])
    r = Fraction(rate)
    exact = sum((Fraction(a) * r / ((100 + r) if inclusive else 100) for a in amounts),
                Fraction(0))
    expected = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP)
    sums = totals(lines)
    assert sums["tax"] == expected
    assert sums["total"] == (sum(amounts, Decimal(0)) if inclusive
                             else sum(amounts, Decimal(0)) + expected)
    for line, amount in zip(lines, amounts, strict=True):
        share = Fraction(amount) * r / ((100 + r) if inclusive else 100)
        assert abs(Fraction(line.taxes[0].amount) - share) < Fraction(1, 100)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(cents, st.integers(min_value=0, max_value=100)), min_size=1,
                max_size=8), rates, st.sampled_from(["line", "invoice"]))
def test_discount_of_tax_inclusive_price_contains_the_tax_it_removes(
        items: list[tuple[Decimal, int]], rate: str, level: str) -> None:
    # each line: an amount including tax and a discount of 0..100% of it
    amounts = [a for a, _ in items]
    discounts = [(a * p / 100).quantize(Decimal("0.01")) for a, p in items]
    policy = POLICY.replace("rounding_level: invoice", f"rounding_level: {level}")
    case: dict[str, Any] = {
        "policies": policy % (rate, "true"),
        "order": {"id": "O", "date": "2026-01-01", "currency": "GBP", "seller": "s",
                  "customer": {"id": "C", "country": "GB"},
                  "lines": [{"sku": "X", "quantity": "1"} for _ in amounts]},
        "lines": [{"amount": str(a), "discounts": [str(d)] if d else []}
                  for a, d in zip(amounts, discounts, strict=True)]}
    bundle, order, lines, scope = build(case)
    apply_taxes(bundle, order, lines, scope, [])
    for line, discount in zip(lines, discounts, strict=True):
        # never negative, never more than the discount itself
        assert Decimal(0) <= line.discount_included_tax <= discount, (line, discount)
    if level == "invoice":
        # exclusive of tax, the invoice reads what it would undiscounted: the amounts less
        # their tax, rounded once as the charge is
        r = Fraction(rate)
        exact = sum((Fraction(a) * r / (100 + r) for a in amounts), Fraction(0))
        undiscounted_tax = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP)
        subtotal = sum((x.amount - x.included_tax - x.discount_included_tax for x in lines),
                       Decimal(0))
        assert subtotal == sum(amounts, Decimal(0)) - undiscounted_tax
