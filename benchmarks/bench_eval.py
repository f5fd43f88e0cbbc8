"""Evaluation throughput: a 10-line order against the example policies, on one core.

Reports invoices/s for each CEL backend and the ratio to a hand-written Python function that
computes the same invoice for the same order (the floor), all measured in the same run.

    python benchmarks/bench_eval.py [--seconds 2] [--policies policies] [--profile]

The policies come from `policies/`; when that tree is missing or does not load, the benchmark
uses the small copy of the catalogue, discounts and UK VAT rule embedded below.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import sys
import time
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.errors import BillplaneError  # noqa: E402
from engine.evaluate import evaluate  # noqa: E402
from engine.loader import load_bundle  # noqa: E402

ORDER: dict[str, Any] = {
    "id": "BENCH-1", "date": "2026-03-15", "currency": "GBP", "seller": "northwind-uk",
    "coupons": ["THANKYOU50"],
    "customer": {"id": "C-1", "name": "Fenwick Analytics Ltd", "country": "GB",
                 "postcode": "M1 1AE", "type": "business", "tax_id": "GB123456789",
                 "segment": "enterprise"},
    "lines": [
        {"sku": "SEAT-MONTHLY", "quantity": "25",
         "period": {"start": "2026-03-01", "end": "2026-04-01"}},
        {"sku": "SEAT-ANNUAL", "quantity": "12",
         "period": {"start": "2026-03-15", "end": "2027-03-15"}},
        {"sku": "STARTER-BUNDLE", "quantity": "1",
         "period": {"start": "2026-03-15", "end": "2027-03-15"}},
        {"sku": "API-CALLS", "quantity": "250000"},
        {"sku": "STORAGE-GB", "quantity": "1500"},
        {"sku": "PAYMENTS", "quantity": "2500.00",
         "transactions": ["100.00", "250.00", "12.00", "800.00", "1338.00"]},
        {"sku": "ONBOARDING", "quantity": "1"},
        {"sku": "TRAINING-DAY", "quantity": "3"},
        {"sku": "IMPL-PROJECT", "quantity": "1"},
        {"sku": "SEAT-MONTHLY", "quantity": "5",
         "period": {"start": "2026-03-15", "end": "2026-04-01"}},
    ],
}

EMBEDDED = {
    "pricing/catalogue.yaml": b"""
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: catalogue, owner: revops}
spec:
  rounding: half_up
  products:
    - sku: SEAT-MONTHLY
      type: subscription
      name: Platform seat (monthly)
      prices:
        - currency: GBP
          model: graduated
          tiers: [{up_to: 10, unit_amount: 30.00}, {up_to: 50, unit_amount: 25.00},
                  {up_to: null, unit_amount: 20.00}]
    - sku: SEAT-ANNUAL
      type: subscription
      name: Platform seat (annual, prepaid)
      prices:
        - currency: GBP
          model: volume
          tiers: [{up_to: 10, unit_amount: 300.00, flat_amount: 0},
                  {up_to: 100, unit_amount: 250.00, flat_amount: 500.00},
                  {up_to: null, unit_amount: 200.00, flat_amount: 2000.00}]
    - sku: STARTER-BUNDLE
      type: subscription
      name: Starter bundle (annual licence + onboarding)
      prices: [{currency: GBP, model: per_unit, unit_amount: 1000.00}]
    - sku: API-CALLS
      type: usage
      name: API calls
      prices:
        - {currency: GBP, model: package,
           package: {size: 1000, amount: 2.00, rounding: up, free_units: 10000}}
    - sku: STORAGE-GB
      type: usage
      name: Storage (GB-month)
      prices:
        - currency: GBP
          model: graduated
          tiers: [{up_to: 100, unit_amount: 0}, {up_to: 1000, unit_amount: 0.10},
                  {up_to: null, unit_amount: 0.05}]
    - sku: PAYMENTS
      type: usage
      name: Payment processing
      prices:
        - {currency: GBP, model: percentage,
           percentage: {rate: 1.4, fixed_fee: 0.20, min_per_transaction: 0.30,
                        max_per_transaction: 5.00}}
    - sku: ONBOARDING
      type: one_off
      name: Onboarding package
      prices: [{currency: GBP, model: flat, amount: 1500.00}]
    - sku: TRAINING-DAY
      type: service
      name: Training day (on site or remote)
      prices: [{currency: GBP, model: per_unit, unit_amount: 1200.00}]
    - sku: IMPL-PROJECT
      type: service
      name: Implementation project (fixed fee)
      prices: [{currency: GBP, model: flat, amount: 20000.00}]
""",
    "pricing/discounts.yaml": b"""
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: enterprise-volume, owner: revops}
spec:
  priority: 100
  when: "customer.segment == 'enterprise'"
  applies_to: "line.product_type == 'subscription' && line.units >= 20"
  effect: {percent_off: 10}
---
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: annual-prepay, owner: revops}
spec:
  priority: 110
  applies_to: "line.sku == 'SEAT-ANNUAL'"
  effect: {percent_off: 5}
---
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: thank-you-credit, owner: customer-success}
spec:
  priority: 140
  coupon: THANKYOU50
  effect: {amount_off: {GBP: 50.00}}
  scope: order
""",
    "tax/uk-vat.yaml": b"""
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: uk-vat, owner: tax}
spec:
  tax: vat
  label: UK VAT
  seller: northwind-uk
  jurisdiction: {country: GB}
  applies_to: "line.sku != 'PERSONAL-PLAN' && line.sku != 'PAYMENTS'"
  rates: [{rate: 20, effective: {from: 2011-01-04}}]
  inclusive: false
  rounding: half_up
  rounding_level: line
""",
}

# ---------------------------------------------------------------------------------------------
# The floor: the same invoice computed by plain Python with the rules written in by hand.

C = Decimal("0.01")
Z = Decimal(0)


def _q(x: Decimal) -> Decimal:
    return x.quantize(C, ROUND_HALF_UP)


def _graduated(q: Decimal, tiers: list[tuple[Decimal | None, Decimal]]) -> Decimal:
    total, below = Z, Z
    for up_to, unit in tiers:
        top = q if up_to is None else min(q, up_to)
        if top > below:
            total += (top - below) * unit
        if up_to is None or q <= up_to:
            break
        below = up_to
    return total


SEAT_TIERS = [(Decimal(10), Decimal(30)), (Decimal(50), Decimal(25)), (None, Decimal(20))]
STORAGE_TIERS = [(Decimal(100), Z), (Decimal(1000), Decimal("0.10")), (None, Decimal("0.05"))]
NAMES = {"SEAT-MONTHLY": "Platform seat (monthly)",
         "SEAT-ANNUAL": "Platform seat (annual, prepaid)",
         "STARTER-BUNDLE": "Starter bundle (annual licence + onboarding)",
         "API-CALLS": "API calls", "STORAGE-GB": "Storage (GB-month)",
         "PAYMENTS": "Payment processing", "ONBOARDING": "Onboarding package",
         "TRAINING-DAY": "Training day (on site or remote)",
         "IMPL-PROJECT": "Implementation project (fixed fee)"}
TYPES = {"SEAT-MONTHLY": "subscription", "SEAT-ANNUAL": "subscription",
         "STARTER-BUNDLE": "subscription", "API-CALLS": "usage", "STORAGE-GB": "usage",
         "PAYMENTS": "usage", "ONBOARDING": "one_off", "TRAINING-DAY": "service",
         "IMPL-PROJECT": "service"}


def _price(sku: str, q: Decimal, line: dict[str, Any]) -> tuple[str, Decimal | None, Decimal]:
    if sku == "SEAT-MONTHLY":
        return "graduated", None, _graduated(q, SEAT_TIERS)
    if sku == "SEAT-ANNUAL":
        unit, flat = ((Decimal(300), Z) if q <= 10 else (Decimal(250), Decimal(500))
                      if q <= 100 else (Decimal(200), Decimal(2000)))
        return "volume", unit, q * unit + flat
    if sku == "STARTER-BUNDLE":
        return "per_unit", Decimal("1000.00"), q * Decimal(1000)
    if sku == "API-CALLS":
        packs = (max(Z, q - 10000) / 1000).to_integral_value(ROUND_CEILING)
        return "package", Decimal("2.00"), packs * 2
    if sku == "STORAGE-GB":
        return "graduated", None, _graduated(q, STORAGE_TIERS)
    if sku == "PAYMENTS":
        total = Z
        for t in line["transactions"]:
            fee = Decimal(t) * Decimal("0.014") + Decimal("0.20")
            total += min(max(fee, Decimal("0.30")), Decimal("5.00"))
        return "percentage", None, total
    if sku == "ONBOARDING":
        return "flat", Decimal("1500.00"), Decimal(1500) if q else Z
    if sku == "TRAINING-DAY":
        return "per_unit", Decimal("1200.00"), q * Decimal(1200)
    return "flat", Decimal("20000.00"), Decimal(20000) if q else Z


def floor_invoice(order: dict[str, Any], revision: str) -> dict[str, Any]:
    """The bench order's invoice, by hand: prices, discounts, UK VAT, totals, document."""
    enterprise = order["customer"].get("segment") == "enterprise"
    rows = []
    for i, line in enumerate(order["lines"]):
        q = Decimal(line["quantity"])
        model, unit, amount = _price(line["sku"], q, line)
        rows.append({"i": i, "line": line, "q": q, "model": model, "unit": unit,
                     "amount": _q(amount), "disc": []})
    for r in rows:
        if enterprise and TYPES[r["line"]["sku"]] == "subscription" and r["q"] >= 20:
            r["disc"].append(("enterprise-volume", "line", _q(r["amount"] / 10)))
    for r in rows:
        if r["line"]["sku"] == "SEAT-ANNUAL":
            left = r["amount"] - sum(d[2] for d in r["disc"])
            r["disc"].append(("annual-prepay", "line", _q(left * Decimal("0.05"))))
    if "THANKYOU50" in order.get("coupons", ()):
        lefts = [r["amount"] - sum(d[2] for d in r["disc"]) for r in rows]
        cents = [int(x * 100) for x in lefts]
        whole = sum(cents)
        shares = [5000 * c // whole for c in cents]
        rest = sorted(range(len(rows)), key=lambda k: (-(5000 * cents[k] % whole), k))
        for k in rest[:5000 - sum(shares)]:
            shares[k] += 1
        for r, s in zip(rows, shares, strict=True):
            if s:
                r["disc"].append(("thank-you-credit", "order", Decimal(s).scaleb(-2)))
    lines, summary_taxable, summary_tax = [], Z, Z
    totals = dict.fromkeys(("subtotal", "discount", "net", "tax", "total"), Z)
    for r in rows:
        sku = r["line"]["sku"]
        disc = sum((d[2] for d in r["disc"]), Z)
        net = r["amount"] - disc
        taxes = []
        if sku not in ("PERSONAL-PLAN", "PAYMENTS"):
            tax = _q(net / 5)
            taxes.append({"rule": "uk-vat", "tax": "vat", "jurisdiction": "GB", "rate": "20",
                          "taxable": f"{net:.2f}", "amount": f"{tax:.2f}", "inclusive": False,
                          "reverse_charge": False, "exemption": ""})
            summary_taxable += net
            summary_tax += tax
        else:
            tax = Z
        totals["subtotal"] += r["amount"]
        totals["discount"] += disc
        totals["net"] += net
        totals["tax"] += tax
        totals["total"] += net + tax
        line = r["line"]
        period = line.get("period")
        lines.append({
            "index": r["i"], "sku": sku, "description": NAMES[sku], "product_type": TYPES[sku],
            "quantity": line["quantity"], "model": r["model"],
            "unit_amount": None if r["unit"] is None else f"{r['unit']:.2f}",
            "amount": f"{r['amount']:.2f}",
            "discounts": [{"rule": n, "scope": s, "amount": f"{a:.2f}", "coupon":
                           "THANKYOU50" if n == "thank-you-credit" else ""}
                          for n, s, a in r["disc"]],
            "discount_total": f"{disc:.2f}", "net": f"{net:.2f}", "tax": taxes,
            "tax_total": f"{tax:.2f}", "total": f"{net + tax:.2f}",
            "period": dict(sorted(period.items())) if period else None,
            "recognition": "point_in_time"})
    canonical = json.dumps(order, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    as_of = order["date"]
    decision = hashlib.sha256(f"{revision}\n{canonical}\n{as_of}".encode()).hexdigest()
    return {
        "order_id": order["id"], "date": order["date"], "currency": order["currency"],
        "lines": lines,
        "tax_summary": [{"rule": "uk-vat", "jurisdiction": "GB", "rate": "20",
                         "taxable": f"{summary_taxable:.2f}", "amount": f"{summary_tax:.2f}",
                         "reverse_charge": False}],
        "totals": {k: f"{v:.2f}" for k, v in totals.items()},
        "decision_id": decision,
    }


# ---------------------------------------------------------------------------------------------


def policy_files(root: Path) -> tuple[dict[str, bytes], str]:
    """The example policies, or the embedded copy when they are absent or do not load."""
    if root.is_dir():
        files = {p.relative_to(root).as_posix(): p.read_bytes()
                 for p in sorted(root.rglob("*")) if p.suffix in (".yaml", ".yml")
                 and not any(part.startswith(".") for part in p.relative_to(root).parts)}
        try:
            load_bundle(files, "bench")
            return files, str(root)
        except BillplaneError as exc:
            print(f"policies/ does not load ({exc.code}); using the embedded policies")
    return EMBEDDED, "embedded"


def rate(fn: Callable[[], Any], seconds: float) -> float:
    """Calls per second of `fn` over about `seconds` (after a short warm-up)."""
    for _ in range(20):
        fn()
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def same_invoice(engine_doc: dict[str, Any], floor_doc: dict[str, Any]) -> None:
    """The floor must compute what the engine computes, or the ratio means nothing."""
    for key in ("lines", "tax_summary", "totals"):
        assert engine_doc[key] == floor_doc[key], f"floor differs from the engine in {key}"
    assert engine_doc["provenance"]["decision_id"] == floor_doc["decision_id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--policies", type=Path, default=ROOT / "policies")
    parser.add_argument("--profile", action="store_true", help="cProfile the cel-expr run")
    args = parser.parse_args(argv)
    files, source = policy_files(args.policies)
    revision = "bench"
    floor_doc = floor_invoice(ORDER, revision)
    floor = rate(lambda: floor_invoice(ORDER, revision), args.seconds)
    print(f"policies: {source}; order: {len(ORDER['lines'])} lines; one process, one core")
    print(f"{'floor (hand-written Python)':<30} {floor:>9.0f} invoices/s")
    for backend in ("cel-expr", "cel-python"):
        bundle = load_bundle(files, revision, backend)
        try:
            invoice = evaluate(bundle, ORDER)
        except Exception as exc:  # report and go on to the next backend
            print(f"{'engine, ' + backend:<30} failed: {type(exc).__name__}: {exc}")
            continue
        same_invoice(invoice.document, floor_doc)
        got = rate(lambda b=bundle: evaluate(b, ORDER), args.seconds)
        print(f"{'engine, ' + backend:<30} {got:>9.0f} invoices/s  "
              f"{1000 / got:6.3f} ms/invoice  {floor / got:6.1f}x the floor")
        if backend == "cel-expr":
            with_json = rate(lambda b=bundle: evaluate(b, ORDER).canonical_json(),
                             args.seconds)
            print(f"{'  + canonical JSON':<30} {with_json:>9.0f} invoices/s")
            if args.profile:
                profiler = cProfile.Profile()
                profiler.runcall(lambda b=bundle: [evaluate(b, ORDER) for _ in range(300)])
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
