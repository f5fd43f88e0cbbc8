"""End-to-end evaluation: hand-computed invoices, determinism, totals invariants, trace."""

from __future__ import annotations

import copy
import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_trace_coverage import check_trace

from engine.errors import BillplaneError
from engine.evaluate import evaluate, explain
from engine.loader import load_bundle
from engine.model import DERIVED

POLICIES = {
    "pricing/book.yaml": b"""
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: core-prices, owner: revops}
spec:
  rounding: half_up
  products:
    - sku: SEAT
      name: Platform seat
      type: subscription
      prices:
        - {currency: GBP, model: per_unit, unit_amount: 25.00}
        - {currency: JPY, model: per_unit, unit_amount: 3333}
    - sku: SETUP
      name: Setup
      type: one_off
      prices:
        - {currency: GBP, model: flat, amount: 100.00}
        - {currency: JPY, model: flat, amount: 15000}
    - sku: CALLS
      name: API calls
      type: usage
      prices:
        - currency: GBP
          model: graduated
          tiers: [{up_to: 1000, unit_amount: 0}, {up_to: null, unit_amount: 0.003}]
""",
    "pricing/rules.yaml": b"""
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: enterprise-10, owner: revops}
spec:
  when: "customer.segment == 'enterprise'"
  applies_to: "line.product_type == 'subscription'"
  effect: {percent_off: 10}
---
apiVersion: billplane.dev/v1
kind: PricingRule
metadata: {name: goodwill, owner: cs}
spec:
  coupon: SORRY
  effect: {amount_off: {GBP: 10.00, JPY: 1000}}
""",
    "tax/uk.yaml": b"""
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: uk-vat, owner: tax}
spec:
  tax: vat
  label: UK VAT
  jurisdiction: {country: GB}
  rates: [{rate: 20, effective: {from: 2011-01-04}}]
  inclusive: false
  rounding: half_up
  rounding_level: line
""",
}

ORDER: dict[str, Any] = {
    "id": "ORD-1", "date": "2026-03-15", "currency": "GBP", "seller": "acme-uk",
    "customer": {"id": "C-1", "country": "GB", "type": "business", "segment": "enterprise"},
    "lines": [
        {"sku": "SEAT", "quantity": "10", "period": {"start": "2026-03-01", "end": "2027-03-01"}},
        {"sku": "SETUP", "quantity": "1"},
        {"sku": "CALLS", "quantity": "4333"},
    ],
}


@pytest.fixture(scope="module", params=["cel-expr", "cel-python"])
def bundle(request: pytest.FixtureRequest) -> Any:
    return load_bundle(POLICIES, "rev-1", request.param)


def test_hand_computed_invoice(bundle: Any) -> None:
    doc = evaluate(bundle, ORDER).document
    seat, setup, calls = doc["lines"]
    # 10 x 25.00 = 250.00; enterprise 10 % = 25.00; net 225.00; VAT 20 % = 45.00
    assert (seat["amount"], seat["discount_total"], seat["net"]) == ("250.00", "25.00", "225.00")
    assert seat["discounts"] == [{"rule": "enterprise-10", "scope": "line", "amount": "25.00",
                                  "coupon": ""}]
    assert seat["tax"][0]["amount"] == "45.00" and seat["total"] == "270.00"
    assert seat["unit_amount"] == "25.00" and seat["model"] == "per_unit"
    assert seat["period"] == {"start": "2026-03-01", "end": "2027-03-01"}
    # flat 100.00, not a subscription: no discount; VAT 20.00
    assert (setup["amount"], setup["discounts"], setup["tax_total"]) == ("100.00", [], "20.00")
    # graduated: 1000 free, 3333 x 0.003 = 9.999 -> 10.00; VAT 2.00
    assert (calls["amount"], calls["tax_total"], calls["unit_amount"]) == ("10.00", "2.00", None)
    assert doc["totals"] == {"subtotal": "360.00", "discount": "25.00", "net": "335.00",
                             "tax": "67.00", "total": "402.00"}
    assert doc["tax_summary"][0]["taxable"] == "335.00"
    assert doc["tax_summary"][0]["amount"] == "67.00"


def test_customer_block_carries_the_tax_id(bundle: Any) -> None:
    # the customer's VAT number as the order gives it; never its name or address
    customer = dict(ORDER["customer"], tax_id="GB 123 4567 89", name="Fenwick Analytics Ltd",
                    postcode="M1 1AE",
                    address={"line1": "1 Piccadilly", "city": "Manchester",
                             "postcode": "M1 1AE", "country": "GB"})
    invoice = evaluate(bundle, dict(ORDER, customer=customer))
    assert invoice.document["customer"] == {"id": "C-1", "country": "GB", "region": "",
                                            "type": "business", "tax_id": "GB 123 4567 89"}
    assert b"Fenwick" not in invoice.canonical_json()
    assert b"Piccadilly" not in invoice.canonical_json()
    # an order without one: an empty string, so the block always has the same keys
    assert evaluate(bundle, ORDER).document["customer"]["tax_id"] == ""


def test_order_level_amount_off_is_allocated(bundle: Any) -> None:
    order = dict(ORDER, coupons=["SORRY"])
    doc = evaluate(bundle, order).document
    # 10.00 over what is left of the lines: 225.00, 100.00, 10.00 (total 335.00); in cents
    # 1000 x 225/335 = 671.64, x 100/335 = 298.51, x 10/335 = 29.85: floors 671 + 298 + 29 =
    # 998, the 2 cents left go to the largest remainders (.85 line 2, then .64 line 0)
    shares = [[d["amount"] for d in line["discounts"] if d["rule"] == "goodwill"]
              for line in doc["lines"]]
    assert shares == [["6.72"], ["2.98"], ["0.30"]]
    assert doc["totals"]["discount"] == "35.00"
    assert all(d["scope"] == "order" and d["coupon"] == "SORRY"
               for line in doc["lines"] for d in line["discounts"] if d["rule"] == "goodwill")


def test_jpy_amounts_have_no_minor_digits(bundle: Any) -> None:
    order = dict(ORDER, currency="JPY", lines=ORDER["lines"][:2])
    doc = evaluate(bundle, order).document
    # 10 x 3333 = 33330; 10 % = 3333; net 29997; VAT 20 % = 5999.4 -> 5999
    assert doc["lines"][0]["amount"] == "33330"
    assert doc["lines"][0]["discount_total"] == "3333"
    assert doc["lines"][0]["tax_total"] == "5999"
    assert doc["totals"]["total"] == str(29997 + 5999 + 15000 + 3000)


def test_same_input_gives_identical_bytes(bundle: Any) -> None:
    first = evaluate(bundle, ORDER).canonical_json()
    # the same order with keys in another order, and a freshly loaded bundle
    shuffled = json.loads(json.dumps(ORDER, sort_keys=True))
    shuffled = dict(reversed(list(shuffled.items())))
    again = load_bundle(POLICIES, "rev-1", bundle.backend)
    assert evaluate(again, shuffled).canonical_json() == first
    assert evaluate(bundle, copy.deepcopy(ORDER)).canonical_json() == first


def test_canonical_json_form(bundle: Any) -> None:
    raw = evaluate(bundle, ORDER).canonical_json()
    parsed = json.loads(raw)
    assert raw == json.dumps(parsed, sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False).encode("utf-8")
    assert raw.startswith(b'{"currency":"GBP","customer":{"country":"GB","id":"C-1",')


def test_decision_id_by_hand(bundle: Any) -> None:
    doc = evaluate(bundle, ORDER, as_of="2026-03-20").document
    canonical = json.dumps(ORDER, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    want = hashlib.sha256(
        f"rev-1\n{bundle.digest}\n{canonical}\n2026-03-20".encode()).hexdigest()
    provenance = doc["provenance"]
    assert provenance["decision_id"] == want
    assert provenance["as_of"] == "2026-03-20" and provenance["revision"] == "rev-1"
    default = evaluate(bundle, ORDER).document["provenance"]
    assert default["as_of"] == "2026-03-15" and default["decision_id"] != want


def test_a_parsed_order_is_written_out_once_for_every_decision_id(bundle: Any) -> None:
    """A replay evaluates one parsed order under two revisions: its canonical text is worked
    out once and gives each revision the decision id the order itself would."""
    from engine.invoice import canonical
    from engine.order import parse_order

    parsed = parse_order(ORDER)
    first = evaluate(bundle, parsed).document["provenance"]["decision_id"]
    assert parsed.raw_text == canonical(ORDER)
    again = evaluate(bundle, parsed).document["provenance"]["decision_id"]
    assert first == again == evaluate(bundle, ORDER).document["provenance"]["decision_id"]


def test_decision_id_tells_apart_policy_trees_without_a_revision() -> None:
    # two directories loaded without a git revision: same order, different policies
    changed = dict(POLICIES, **{"tax/uk.yaml": POLICIES["tax/uk.yaml"].replace(
        b"label: UK VAT", b"label: VAT (UK)")})
    first, second = load_bundle(POLICIES, ""), load_bundle(changed, "")
    assert first.digest != second.digest
    ids = {evaluate(b, ORDER).document["provenance"]["decision_id"] for b in (first, second)}
    assert len(ids) == 2
    assert evaluate(load_bundle(POLICIES, ""), ORDER).document["provenance"]["decision_id"] \
        in ids  # the same tree gives the same id


def _d(text: str) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize("coupons", [[], ["SORRY"]])
@pytest.mark.parametrize("segment", ["enterprise", "smb"])
def test_totals_invariants(bundle: Any, coupons: list[str], segment: str) -> None:
    order = copy.deepcopy(ORDER)
    order["coupons"] = coupons
    order["customer"]["segment"] = segment
    doc = evaluate(bundle, order).document
    t = {k: _d(v) for k, v in doc["totals"].items()}
    assert t["total"] == t["net"] + t["tax"]
    assert t["net"] == t["subtotal"] - t["discount"]
    lines = doc["lines"]
    assert t["discount"] == sum(_d(line["discount_total"]) for line in lines)
    assert t["net"] == sum(_d(line["net"]) for line in lines)
    assert t["tax"] == sum(_d(line["tax_total"]) for line in lines)
    assert t["total"] == sum(_d(line["total"]) for line in lines)
    for line in lines:
        assert _d(line["discount_total"]) == sum((_d(d["amount"]) for d in line["discounts"]),
                                                 Decimal(0))
        assert _d(line["net"]) >= 0


def test_every_line_amount_is_traced_to_an_existing_rule(bundle: Any) -> None:
    invoice = evaluate(bundle, dict(ORDER, coupons=["SORRY"]))
    doc = invoice.document
    traced = {(t["path"], t["amount"]): t["rule"] for t in doc["trace"]}
    for i, line in enumerate(doc["lines"]):
        assert traced[(f"lines[{i}].amount", line["amount"])] == "core-prices"
        for k, d in enumerate(line["discounts"]):
            assert traced[(f"lines[{i}].discounts[{k}].amount", d["amount"])] == d["rule"]
    for key, value in doc["totals"].items():
        assert (f"totals.{key}", value) in traced
    names = set(bundle.docs) | {DERIVED}
    for entry in doc["trace"]:
        if entry["path"].startswith(("lines[", "tax_summary")):
            assert entry["rule"] in names
        if entry["rule"] in bundle.docs:
            assert entry["where"].startswith(bundle.docs[entry["rule"]].location.file + ":")
    check_trace(bundle, doc)


def test_explain_names_rules_and_amounts(bundle: Any) -> None:
    text = explain(evaluate(bundle, ORDER))
    assert "lines[0] SEAT x 10 (Platform seat)" in text
    assert "250.00  <- core-prices (pricing/book.yaml:" in text
    assert "25.00  <- enterprise-10 (pricing/rules.yaml:" in text
    assert "totals.total" in text and "402.00" in text


def test_bad_order_and_unknown_sku(bundle: Any) -> None:
    with pytest.raises(BillplaneError) as err:
        evaluate(bundle, dict(ORDER, lines=[{"sku": "SEAT", "quantity": "-1"}]))
    assert err.value.code == "negative_quantity"
    with pytest.raises(BillplaneError) as err:
        evaluate(bundle, dict(ORDER, lines=[{"sku": "NOPE", "quantity": "1"},
                                            {"sku": "GONE", "quantity": "1"}]))
    assert [d.code for d in err.value.diagnostics] == ["unknown_product"] * 2
    assert [d.location.file for d in err.value.diagnostics] == [
        "order.lines[0].sku", "order.lines[1].sku"]
    with pytest.raises(BillplaneError) as err:
        evaluate(bundle, dict(ORDER, currency="EUR"))
    assert err.value.code == "no_price"
    with pytest.raises(BillplaneError) as err:
        evaluate(bundle, ORDER, as_of="yesterday")
    assert err.value.code == "invalid_as_of"


def test_blocked_follows_error_violations(bundle: Any) -> None:
    invoice = evaluate(bundle, ORDER)
    assert invoice.blocked == any(v.severity == "error" for v in invoice.violations)
    assert invoice.document["violations"] == [
        {"rule": v.rule, "severity": v.severity, "code": v.code, "message": v.message}
        for v in invoice.violations]


def test_document_is_plain_json(bundle: Any) -> None:
    # no Decimal, date or other object leaks into the document: the stdlib encodes it as is
    doc = evaluate(bundle, dict(ORDER, coupons=["SORRY"])).document
    assert json.loads(json.dumps(doc)) == doc


ORDERS = st.fixed_dictionaries({
    "lines": st.lists(st.tuples(st.sampled_from(["SEAT", "SETUP", "CALLS"]),
                                st.integers(min_value=0, max_value=5000)),
                      min_size=1, max_size=6),
    "coupons": st.sampled_from([[], ["SORRY"]]),
    "segment": st.sampled_from(["enterprise", "smb"]),
    "currency": st.sampled_from(["GBP", "JPY"]),
})


@settings(max_examples=40, deadline=None)
@given(spec=ORDERS)
def test_invariants_on_random_orders(spec: dict[str, Any]) -> None:
    bundle = _RANDOM_BUNDLE
    lines = [(sku, q) for sku, q in spec["lines"] if spec["currency"] == "GBP" or sku != "CALLS"]
    if not lines:
        return
    order = {"id": "R-1", "date": "2026-03-15", "currency": spec["currency"], "seller": "acme",
             "customer": {"id": "C", "country": "GB", "segment": spec["segment"]},
             "coupons": spec["coupons"],
             "lines": [{"sku": sku, "quantity": str(q)} for sku, q in lines]}
    invoice = evaluate(bundle, order)
    doc = invoice.document
    assert evaluate(bundle, copy.deepcopy(order)).canonical_json() == invoice.canonical_json()
    t = {k: _d(v) for k, v in doc["totals"].items()}
    assert t["total"] == t["net"] + t["tax"] and t["net"] == t["subtotal"] - t["discount"]
    assert t["net"] == sum(_d(line["net"]) for line in doc["lines"])
    assert all(_d(line["net"]) >= 0 for line in doc["lines"])
    schedule = doc["recognition"]["schedule"]
    for i, line in enumerate(doc["lines"]):
        assert sum(_d(s["amount"]) for s in schedule if s["line"] == i) == _d(line["net"])
    if doc["payment"] and doc["payment"]["installments"]:
        assert sum(_d(x["amount"]) for x in doc["payment"]["installments"]) == t["total"]


_RANDOM_BUNDLE = load_bundle(POLICIES, "rev-1")


def test_unknown_backend_is_a_clear_error(bundle: Any) -> None:
    with pytest.raises(BillplaneError) as err:
        evaluate(bundle, ORDER, backend="cel-rust")
    assert err.value.code == "unknown_backend"


HUGE = {
    "book.yaml": b"""
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: book, owner: revops}
spec:
  products:
    - sku: BIG
      name: Big
      type: one_off
      prices: [{currency: JPY, model: per_unit, unit_amount: 9000}]
---
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: jp-tax, owner: tax}
spec:
  tax: vat
  jurisdiction: {country: JP}
  rates: [{rate: 10}]
---
apiVersion: billplane.dev/v1
kind: ValidationRule
metadata: {name: large, owner: finance}
spec:
  severity: warning
  code: large
  assert: "invoice.total_minor <= 1000 && order.subtotal_minor <= 1000"
  message: large
""",
}
MOST = "999999999999999"  # the largest whole quantity an order may give


@pytest.mark.parametrize("backend", ["cel-expr", "cel-python"])
@pytest.mark.parametrize("quantities", [
    # 9000 x 999999999999999 = 8999999999999991000 yen fits a 64-bit int (CEL's, the policies'
    # `invoice.total_minor`); 10 % tax takes the total to 9899999999999990100: beyond it
    [MOST],
    # two lines each within it that add up to more
    [MOST, MOST],
])
def test_amounts_beyond_cel_ints_are_a_located_error(quantities: list[str], backend: str
                                                     ) -> None:
    bundle = load_bundle(HUGE, "rev-1", backend)
    order = {"id": "H-1", "date": "2026-03-15", "currency": "JPY", "seller": "acme",
             "customer": {"id": "C", "country": "JP"},
             "lines": [{"sku": "BIG", "quantity": q} for q in quantities]}
    with pytest.raises(BillplaneError) as err:
        evaluate(bundle, order, backend=backend)
    [diag] = err.value.diagnostics
    assert (diag.code, diag.location.file) == ("amount_out_of_range", "order.lines")
    # just within: the same on both backends, exact to the yen
    order["lines"] = [{"sku": "BIG", "quantity": "931322574615478"}]
    doc = evaluate(bundle, order, backend=backend).document
    # 9000 x 931322574615478 = 8381903171539302000; 10 % = 838190317153930200
    assert doc["totals"]["total"] == "9220093488693232200"
    assert [v["code"] for v in doc["violations"]] == ["large"]


LAST_YEAR = {
    "book.yaml": b"""
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: book, owner: revops}
spec:
  products:
    - sku: MONTHLY
      name: Monthly plan
      type: subscription
      recognition: daily
      prices: [{currency: GBP, model: per_unit, unit_amount: 31.00, interval: month}]
    - sku: SUPPORT
      name: Support
      type: service
      recognition: prorated
      prices: [{currency: GBP, model: flat, amount: 100.00}]
    - sku: KEY
      name: Key
      type: one_off
      prices: [{currency: GBP, model: flat, amount: 30.00}]
---
apiVersion: billplane.dev/v1
kind: RecognitionRule
metadata: {name: daily, owner: finance}
spec: {priority: 1, method: ratable_daily, applies_to: "line.sku == 'MONTHLY'"}
---
apiVersion: billplane.dev/v1
kind: RecognitionRule
metadata: {name: prorated, owner: finance}
spec: {priority: 2, method: ratable_monthly_prorated, applies_to: "line.sku == 'SUPPORT'"}
---
apiVersion: billplane.dev/v1
kind: CreditPolicy
metadata: {name: three-payments, owner: finance}
spec:
  when: "order.coupons.exists(c, c == 'SPLIT')"
  installments: {count: 3, interval_months: 1}
""",
}


@pytest.mark.parametrize(("line", "coupons"), [
    # proration: a month from 9999-12-15 would end in the year 10000
    ({"sku": "MONTHLY", "quantity": "1",
      "period": {"start": "9999-12-15", "end": "9999-12-31"}}, []),
    # a monthly schedule in December 9999: its month has no following one
    ({"sku": "SUPPORT", "quantity": "1",
      "period": {"start": "9999-12-01", "end": "9999-12-31"}}, []),
    # the third monthly instalment of an order of 9999-11-15 falls in January 10000
    ({"sku": "KEY", "quantity": "1"}, ["SPLIT"]),
])
def test_dates_past_the_calendar_are_a_located_error(line: dict[str, Any],
                                                     coupons: list[str]) -> None:
    bundle = load_bundle(LAST_YEAR, "rev-1")
    order = {"id": "Y-1", "date": "9999-11-15", "currency": "GBP", "seller": "acme",
             "customer": {"id": "C", "country": "GB"}, "coupons": coupons, "lines": [line]}
    with pytest.raises(BillplaneError) as err:
        evaluate(bundle, order)
    [diag] = err.value.diagnostics
    assert (diag.code, diag.location.file) == ("date_out_of_range", "order.date")
    # the same within the calendar is an invoice
    order["date"] = "9998-11-15"
    if "period" in line:
        line["period"] = {"start": "9998-12-15", "end": "9998-12-31"}
    assert evaluate(bundle, dict(order, lines=[line])).document["totals"]["total"]


def test_a_price_is_traced_to_the_price_entry_in_effect_on_the_order_date() -> None:
    book = b"""apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: book, owner: revops}
spec:
  products:
    - sku: SEAT
      type: one_off
      prices:
        - {currency: GBP, model: per_unit, unit_amount: 10.00,
           effective: {until: 2026-06-01}}
        - currency: GBP
          model: per_unit
          unit_amount: 12.00
          effective: {from: 2026-06-01}
"""
    tax = b"""apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: uk, owner: tax}
spec:
  tax: vat
  jurisdiction: {country: GB}
  rates: [{rate: 20, effective: {from: 2000-01-01}}]
"""
    bundle = load_bundle({"book.yaml": book, "tax.yaml": tax}, backend="cel-python")
    wheres = {}
    for date in ("2026-05-31", "2026-06-01"):
        order = {"id": "O", "date": date, "currency": "GBP", "seller": "s",
                 "customer": {"id": "C", "country": "GB", "type": "consumer"},
                 "lines": [{"sku": "SEAT", "quantity": "2"},
                           {"sku": "SEAT", "quantity": "1", "unit_price": "9.00"}]}
        trace = evaluate(bundle, order).document["trace"]
        wheres[date] = {t["path"]: t["where"] for t in trace if t["rule"] == "book"}
    # each price from the entry in effect that day (its first line), not the book's start
    assert wheres["2026-05-31"]["lines[0].amount"] == "book.yaml:9"
    assert wheres["2026-06-01"]["lines[0].amount"] == "book.yaml:11"
    assert wheres["2026-06-01"]["lines[0].unit_amount"] == "book.yaml:11"
    # a price given on the order is traced to the order; its amount to the product
    assert wheres["2026-06-01"]["lines[1].amount"] == "book.yaml:6"
