"""Every amount of the invoice document has a trace entry; derived ones add up as they say.

The orders are every PolicyTest case of the example repository (plus a few built here), so the
walk covers discounts, inclusive and reverse-charged tax, per-invoice rounding, instalments,
holds, milestones, usage in earlier periods and bundles.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from api.sources import DirectorySource, load_from
from engine.bundle import Bundle
from engine.errors import BillplaneError
from engine.evaluate import evaluate
from engine.model import DEFAULT, DERIVED, PSEUDO_RULES
from engine.money import exponent

POLICIES = Path(__file__).resolve().parent.parent / "policies"
MONEY_KEYS = frozenset({"unit_amount", "amount", "discount_total", "net", "tax_total", "total",
                        "taxable", "subtotal", "discount", "tax", "limit", "exposure", "debit",
                        "credit", "ssp"})
NOT_OPERANDS = frozenset({"formula", "account", "period", "bundle"})
_STEP = re.compile(r"([A-Za-z_]+)|\[(\d+)\]")


def _is_money(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        Decimal(value)
    except ArithmeticError:
        return False
    return True


def money_fields(node: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, amount) of every money field of the document (trace and provenance aside)."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if not path and key in ("trace", "provenance"):
                continue
            here = f"{path}.{key}" if path else key
            if key in MONEY_KEYS and _is_money(value):
                found.append((here, value))
            else:
                found.extend(money_fields(value, here))
    elif isinstance(node, list):
        for k, value in enumerate(node):
            found.extend(money_fields(value, f"{path}[{k}]"))
    return found


def resolve(doc: Any, path: str) -> Any:
    """The value at a document path such as `lines[0].tax[1].amount`."""
    node = doc
    for name, index in _STEP.findall(path):
        node = node[int(index)] if index else node[name]
    return node


def check_formula(entry: dict[str, Any], doc: dict[str, Any]) -> None:
    """A derived entry's operands are the document's amounts, and its formula holds."""
    inputs = entry["inputs"]
    formula = inputs["formula"]
    operands = {k: v for k, v in inputs.items() if k not in NOT_OPERANDS}
    for key, value in operands.items():
        if "." in key or "[" in key:  # a document path; other keys name a stage's amount
            assert resolve(doc, key) == value, (entry["path"], key)
    amount = Decimal(entry["amount"])
    if formula.startswith("share: "):
        # an allocation: its exact share, rounded by largest remainder (within a minor unit)
        whole, _, weight, _, of = formula.removeprefix("share: ").split(" ")
        share = Decimal(inputs[whole]) * Decimal(operands[weight]) / Decimal(inputs[of])
        assert abs(amount - share) < Decimal(1).scaleb(-exponent(doc["currency"])), entry
        return
    if formula.startswith("sum of "):
        assert amount == sum((Decimal(v) for v in operands.values()), Decimal(0)), entry
        return
    tokens = formula.split(" ")
    assert set(tokens[1::2]) <= {"+", "-"} and set(tokens[::2]) <= set(operands), entry
    value = Decimal(operands[tokens[0]])
    for sign, key in zip(tokens[1::2], tokens[2::2], strict=True):
        value += Decimal(operands[key]) if sign == "+" else -Decimal(operands[key])
    assert amount == value, entry


def check_trace(bundle: Bundle, doc: dict[str, Any]) -> int:
    """Assert full trace coverage of one document; returns the number of amounts checked."""
    trace = doc["trace"]
    by_path: dict[str, dict[str, Any]] = {}
    for entry in trace:
        if entry["amount"] is not None:
            assert entry["path"] not in by_path, f"{entry['path']} traced twice"
            by_path[entry["path"]] = entry
    fields = money_fields(doc)
    journal = re.compile(r"^recognition\.journal\[(\d+)\]\.(debit|credit)$")
    for path, value in fields:
        side = journal.match(path)
        if side:
            # a journal row carries its amount on one side; the trace names that side
            row = doc["recognition"]["journal"][int(side.group(1))]
            other = "credit" if side.group(2) == "debit" else "debit"
            own = f"recognition.journal[{side.group(1)}]."
            assert (own + "debit" in by_path) != (own + "credit" in by_path), path
            if path not in by_path:
                assert Decimal(value) == 0 and f"{own}{other}" in by_path, path
                continue
            assert Decimal(row[other]) == 0 or Decimal(value) == 0, row
        assert path in by_path, f"{path} ({value}) has no trace entry"
        assert by_path[path]["amount"] == value, (path, value, by_path[path])
    names = set(bundle.docs)
    assert not names & PSEUDO_RULES  # a policy named like a pseudo-rule would be ambiguous
    for path, entry in by_path.items():
        assert resolve(doc, path) == entry["amount"], f"trace {path} is not the document's"
        rule = entry["rule"]
        if rule == DERIVED:
            assert entry["where"] == "" and "formula" in entry["inputs"], entry
            check_formula(entry, doc)
        elif rule == "order":
            assert entry["where"].startswith("order."), entry
        elif rule == DEFAULT:  # no policy applies: the engine's default, documented
            assert entry["where"] == "" and entry["inputs"]["method"] == "point_in_time", entry
        else:
            assert rule in names, entry
            assert inside(bundle, rule, entry["where"]), entry
    return len(fields)


def inside(bundle: Bundle, rule: str, where: str) -> bool:
    """`where` (file:line) lies within the document of `rule`: from its first line up to the
    next document of the same file (a price is traced to its own entry in a PriceBook)."""
    doc = bundle.docs[rule].location
    file, _, line = where.rpartition(":")
    later = [d.location.line for d in bundle.docs.values()
             if d.location.file == doc.file and d.location.line > doc.line]
    return file == doc.file and doc.line <= int(line) < min(later, default=int(line) + 1)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_from(DirectorySource(POLICIES))


def _cases(bundle: Bundle) -> list[tuple[dict[str, Any], str | None]]:
    return [(case["order"], case.get("as_of")) for doc in bundle.kind("PolicyTest")
            for case in doc.spec["cases"] if "expect" in case]


def test_every_amount_of_every_example_invoice_is_traced(bundle: Bundle) -> None:
    checked = 0
    for order, as_of in _cases(bundle):
        try:
            invoice = evaluate(bundle, order, as_of)
        except BillplaneError:
            continue
        checked += check_trace(bundle, invoice.document)
    assert checked > 1000


def test_an_untraced_invoice_is_the_same_invoice(bundle: Bundle) -> None:
    # a replay compares invoices evaluated without a trace: every other field must agree
    compared = 0
    for order, as_of in [*_cases(bundle), (USAGE_AND_HOLD, None)]:
        try:
            traced = evaluate(bundle, order, as_of).document
        except BillplaneError as exc:
            with pytest.raises(BillplaneError) as info:
                evaluate(bundle, order, as_of, trace=False)
            assert info.value.diagnostics == exc.diagnostics
            continue
        untraced = evaluate(bundle, order, as_of, trace=False)
        assert untraced.document["trace"] == [] and untraced.trace == []
        assert traced["trace"]
        assert dict(untraced.document, trace=traced["trace"]) == traced, order["id"]
        compared += 1
    assert compared > 20


USAGE_AND_HOLD: dict[str, Any] = {
    "id": "T-TRACE", "date": "2026-03-01", "currency": "GBP", "seller": "northwind-uk",
    "customer": {"id": "C", "country": "GB", "type": "business", "tax_id": "GB123456789",
                 "segment": "smb", "exposure": "4999.00",
                 "address": {"line1": "1", "city": "Leeds", "postcode": "LS1 1AA",
                             "country": "GB"}},
    "coupons": ["THANKYOU50"],
    "lines": [{"sku": "API-CALLS", "quantity": "250000",
               "usage": [{"period": "2026-01", "quantity": "100000"},
                         {"period": "2026-02", "quantity": "150000"}]},
              {"sku": "TRAINING-DAY", "quantity": "2", "unit_price": "999.99"}],
}


def test_usage_before_the_invoice_and_a_hold_are_traced(bundle: Bundle) -> None:
    doc = evaluate(bundle, USAGE_AND_HOLD).document
    assert doc["payment"]["hold"] is not None
    paths = {entry["path"] for entry in doc["trace"]}
    assert {"payment.hold.limit", "payment.hold.exposure", "payment.hold.total",
            "lines[1].unit_amount", "tax_summary[0].amount"} <= paths
    assert check_trace(bundle, doc) >= 40


def test_a_missing_entry_is_found(bundle: Bundle) -> None:
    # the walk itself fails when an amount loses its entry or an operand is misquoted
    doc = evaluate(bundle, _cases(bundle)[0][0]).document
    gone = dict(doc, trace=[t for t in doc["trace"] if t["path"] != "lines[0].net"])
    with pytest.raises(AssertionError, match=r"lines\[0\]\.net"):
        check_trace(bundle, gone)
    wrong = [dict(t, inputs=dict(t["inputs"], **{"totals.net": "0.01"}))
             if t["path"] == "totals.subtotal" else t for t in doc["trace"]]
    with pytest.raises(AssertionError):
        check_trace(bundle, dict(doc, trace=wrong))
