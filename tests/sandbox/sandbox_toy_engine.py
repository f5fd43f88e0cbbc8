"""A deliberately small evaluator for sandbox tests while the full engine is elsewhere.

Real loader (GitSource + load_from), toy arithmetic: per_unit prices or the line's
unit_price, coupon percent-off rules, one customer-country tax rule by date (no rate on the
date -> no_tax_rate), point-in-time recognition. It writes the invoice fields the sandbox reads.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine.errors import fail
from sandbox.engine_port import RealEngine

CENT = Decimal("0.01")


def _q(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _in(eff: dict[str, Any] | None, day: str) -> bool:
    eff = eff or {}
    return str(eff.get("from") or "0000") <= day < str(eff.get("until") or "9999")


class ToyEngine(RealEngine):
    def evaluate(self, bundle: Any, order: dict[str, Any]) -> dict[str, Any]:
        day, cur = order["date"], order["currency"]
        country = order["customer"]["country"]
        products = {p["sku"]: (d, p) for d in bundle.docs.values() if d.kind == "PriceBook"
                    for p in d.spec["products"]}
        taxes = [d for d in bundle.docs.values() if d.kind == "TaxRule"
                 and d.spec["jurisdiction"]["country"] == country]
        lines, trace = [], []
        tot = dict.fromkeys(("subtotal", "discount", "net", "tax", "total"), Decimal(0))
        for i, line in enumerate(order["lines"]):
            if line["sku"] not in products:
                raise fail("unknown_sku", f"no product {line['sku']}")
            book, product = products[line["sku"]]
            qty = Decimal(line["quantity"])
            if "unit_price" in line:
                unit = Decimal(line["unit_price"])
            else:
                prices = [p for p in product["prices"]
                          if p["currency"] == cur and _in(p.get("effective"), day)]
                if not prices:
                    raise fail("no_price", f"no price for {line['sku']}")
                unit = Decimal(prices[0]["unit_amount"])
            amount = _q(unit * qty)
            trace.append({"path": f"lines[{i}].amount", "rule": book.name})
            discounts = []
            for d in sorted(bundle.docs.values(), key=lambda d: d.name):
                if d.kind == "PricingRule" and d.spec.get("coupon") in order.get("coupons", []):
                    off = _q(amount * Decimal(d.spec["effect"]["percent_off"]) / 100)
                    discounts.append({"rule": d.name, "amount": str(off)})
                    trace.append({"path": f"lines[{i}].discounts[0]", "rule": d.name})
            disc = sum((Decimal(d["amount"]) for d in discounts), Decimal(0))
            net = amount - disc
            tax_lines = []
            for rule in taxes:
                rates = [r for r in rule.spec["rates"] if _in(r.get("effective"), day)]
                if not rates:
                    raise fail("no_tax_rate", f"{rule.name} has no rate on {day}")
                rate = Decimal(rates[0]["rate"])
                tax_lines.append({"rule": rule.name, "jurisdiction": country,
                                  "rate": f"{rate.normalize():f}",
                                  "amount": str(_q(net * rate / 100))})
                trace.append({"path": f"lines[{i}].tax[0]", "rule": rule.name})
            tax = sum((Decimal(t["amount"]) for t in tax_lines), Decimal(0))
            lines.append({"index": i, "sku": line["sku"], "unit_amount": str(unit),
                          "amount": str(amount), "discounts": discounts,
                          "discount_total": str(disc), "net": str(net), "tax": tax_lines,
                          "tax_total": str(tax), "total": str(net + tax),
                          "recognition": "point_in_time"})
            for k, v in (("subtotal", amount), ("discount", disc), ("net", net), ("tax", tax),
                         ("total", net + tax)):
                tot[k] += v
        return {
            "currency": cur, "date": day, "customer": {"id": order["customer"]["id"]},
            "lines": lines, "totals": {k: str(v) for k, v in tot.items()},
            "payment": {"due_date": day, "installments": [], "hold": None},
            "recognition": {"schedule": [{"line": ln["index"], "period": day[:7],
                                          "amount": ln["net"]} for ln in lines]},
            "violations": [], "trace": trace,
            "provenance": {"revision": bundle.revision},
        }
