"""Shared builders for the tax, credit and recognition case harnesses (no tests here).

A case file holds `policies` (policy YAML text, loaded by the real loader), an `order` (order
JSON as YAML) and optionally `lines`: the priced lines the stage under test starts from,
`{amount, discounts: [amounts], product_type}` per order line, so the stages are tested
without depending on the pricing models.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from engine.bundle import Bundle
from engine.context import CelScope
from engine.loader import load_bundle
from engine.model import Discount, Order, PricedLine
from engine.money import exponent, fmt
from engine.order import parse_order

CASES = Path(__file__).resolve().parent / "cases"


def case_files(topic: str) -> list[Path]:
    """Every case file of a topic, sorted."""
    return sorted((CASES / topic).glob("*.yaml"))


def read_case(path: Path) -> dict[str, Any]:
    """A case as plain data (numbers in expectations are written as strings)."""
    data = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(data, dict), f"{path}: a case is a mapping"
    return data


def build(case: dict[str, Any]) -> tuple[Bundle, Order, list[PricedLine], CelScope]:
    """Bundle, order, priced lines and a real CEL scope for a case."""
    bundle = load_bundle({"case.yaml": case["policies"].encode("utf-8")})
    order = parse_order(case["order"])
    specs = case.get("lines") or [{} for _ in order.lines]
    lines = []
    for order_line, spec in zip(order.lines, specs, strict=True):
        product = bundle.products.get(order_line.sku, {})
        lines.append(PricedLine(
            order_line=order_line,
            product=product,
            product_type=spec.get("product_type", product.get("type", "one_off")),
            price_rule="case",
            model="flat",
            unit_amount=None,
            amount=Decimal(str(spec.get("amount", "0"))),
            discounts=[Discount("case-discount", Decimal(str(d)))
                       for d in spec.get("discounts", ())],
            recognition_rule=product.get("recognition", ""),
        ))
    scope = CelScope(bundle, order)
    scope.set_line_amounts(lines, exponent(order.currency))
    return bundle, order, lines, scope


def totals(lines: list[PricedLine], tax: Decimal | None = None) -> dict[str, Decimal]:
    """Totals as the sums of line fields (docs/invoice.md); `tax` overrides the line taxes."""
    subtotal = sum((line.amount - line.included_tax for line in lines), Decimal(0))
    discount = sum((line.discount_total for line in lines), Decimal(0))
    net = subtotal - discount
    tax_total = tax if tax is not None else sum((line.tax_total for line in lines), Decimal(0))
    return {"subtotal": subtotal, "discount": discount, "net": net, "tax": tax_total,
            "total": net + tax_total}


def money(value: Decimal, currency: str) -> str:
    """Decimal string with the currency's minor digits."""
    return fmt(value, currency)
