"""The PolicyTest runner: comparison rules, diffs, unknown paths, errors, coverage, exit codes."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from api.cli.main import main
from engine.bundle import Bundle, PolicyDoc
from engine.errors import BillplaneError, Diagnostic, Location
from engine.expect import matches, parse_path
from engine.model import trace_entry
from engine.testing import render_text, run_policy_tests

# --- a hand-built bundle and a fake evaluator ---------------------------------------------

DOCUMENT: dict[str, Any] = {
    "order_id": "O-1",
    "currency": "GBP",
    "seller": "acme-uk",
    "series": "UK",
    "lines": [{"sku": "SEAT", "amount": "250.00",
               "discounts": [{"rule": "ten-off", "amount": "25.00"}],
               "tax": [{"rule": "uk-vat", "rate": "20", "amount": "45.00",
                        "reverse_charge": False}]}],
    "totals": {"net": "225.00", "tax": "45.00", "total": "270.00"},
    "payment": {"policy": "net-30", "hold": None},
    "violations": [],
}


def _doc(kind: str, name: str, spec: dict[str, Any] | None = None) -> PolicyDoc:
    return PolicyDoc(kind, name, spec or {}, Location(f"{kind.lower()}.yaml", 1, 1))


def _bundle(cases: list[dict[str, Any]]) -> Bundle:
    docs = [
        _doc("PricingRule", "ten-off"), _doc("PricingRule", "unused-promo"),
        _doc("TaxRule", "uk-vat"), _doc("TaxRule", "de-vat"),
        _doc("CreditPolicy", "net-30"),
        _doc("ValidationRule", "vat-id"),
        _doc("InvoiceSeries", "uk-series", {"seller": "acme-uk", "series": "UK"}),
        _doc("PolicyTest", "suite", {"cases": cases}),
    ]
    by_kind: dict[str, list[PolicyDoc]] = {}
    for d in docs:
        by_kind.setdefault(d.kind, []).append(d)
    return Bundle("rev", "digest", {d.name: d for d in docs}, by_kind=by_kind,
                  products={"SEAT": {"sku": "SEAT"}, "SUPPORT": {"sku": "SUPPORT"}})


def _fake(bundle: Bundle, order: dict[str, Any], as_of: str | None = None) -> Any:
    if order.get("raise") == "billplane":
        raise BillplaneError(Diagnostic("no_tax_rate", "no rate", rule="de-vat"))
    if order.get("raise") == "bug":
        raise ZeroDivisionError("division by zero")
    trace = [trace_entry("lines[0].amount", "core-prices", "p.yaml:1", Decimal("250.00"))]
    return SimpleNamespace(document=DOCUMENT, trace=trace, lines=[])


def _run(*cases: dict[str, Any]) -> Any:
    return run_policy_tests(_bundle(list(cases)), evaluate=_fake)


# --- comparison -----------------------------------------------------------------------------

def test_decimal_strings_compare_by_value() -> None:
    report = _run({"name": "ok", "order": {}, "expect": {
        "lines[0].tax[0].rate": "20.00",          # invoice has "20"
        "totals.total": Decimal("270"),           # a YAML number loaded exactly
        "lines[0].amount": 250,
        "lines[0].tax[0].reverse_charge": False,
        "payment.hold": None,
        "violations": [],
        "series": "UK",
        "lines[-1].sku": "SEAT",
    }})
    assert [c.passed for c in report.cases] == [True]


@pytest.mark.parametrize(("expected", "actual", "same"), [
    ("20", "20.00", True), ("-1.50", "-1.5", True), ("20", "20.01", False),
    (True, "true", False), ("true", True, False), (1, True, False), (None, "", False),
    ("NWUK", "NWUK", True), ("nwuk", "NWUK", False), ("1e3", "1000", False),
    ([1, "2.0"], ["1", "2"], True), ([1], ["1", "2"], False),
    ({"a": "1.0"}, {"a": "1"}, True), ({"a": "1"}, {"a": "1", "b": "2"}, False),
    ("250.00", {"amount": "250.00"}, False),
])
def test_matches(expected: Any, actual: Any, same: bool) -> None:
    assert matches(expected, actual) is same


def test_parse_path() -> None:
    assert parse_path("lines[0].tax[1].rate") == ["lines", 0, "tax", 1, "rate"]
    assert parse_path("payment.installments[-1]") == ["payment", "installments", -1]
    for bad in ("", "lines[0", "lines..amount", "lines[x]"):
        with pytest.raises(ValueError):
            parse_path(bad)


# --- failures are reported with a readable diff ---------------------------------------------

def test_wrong_expectation_fails_with_a_diff() -> None:
    report = _run({"name": "wrong total", "order": {}, "expect": {
        "totals.total": "271.00", "totals.tax": "45.00"}})
    case = report.cases[0]
    assert not case.passed and report.failed == 1 and not report.ok
    [mismatch] = case.mismatches
    assert (mismatch.path, mismatch.problem) == ("totals.total", "differs")
    assert str(mismatch) == 'totals.total: expected "271.00", got "270.00"'
    text = render_text(report)
    assert "FAIL  suite: wrong total" in text
    assert 'totals.total: expected "271.00", got "270.00"' in text
    assert "0 passed, 1 failed, 1 cases" in text


def test_a_list_or_map_that_differs_names_where_inside_it() -> None:
    report = _run({"name": "lists", "order": {}, "expect": {
        "lines[0].tax": [{"rule": "uk-vat", "rate": "20", "amount": "45.01",
                          "reverse_charge": False, "inclusive": False}],
        "lines[0].discounts": [{"rule": "ten-off", "amount": "25.00"},
                               {"rule": "other", "amount": "1.00"}],
        "totals": {"net": "225", "tax": "45", "total": "270", "discount": "0"},
        "violations": [],
    }})
    got = {m.path: str(m) for m in report.cases[0].mismatches}
    # not both values written out whole: the fields and items that differ, by their paths
    assert got == {
        "lines[0].tax": 'lines[0].tax[0].amount: expected "45.01", got "45.00"; '
                        "lines[0].tax[0].inclusive: missing, expected false",
        "lines[0].discounts": 'lines[0].discounts[1]: missing, expected {"amount": "1.00", '
                              '"rule": "other"}',
        "totals": 'totals.discount: missing, expected "0"',
    }
    many = _run({"name": "many", "order": {}, "expect": {
        "lines[0].tax[0]": {"a": "1", "b": "2"}}}).cases[0].mismatches[0]
    # the first five of the six differences, then how many more
    assert str(many) == (
        'lines[0].tax[0].a: missing, expected "1"; lines[0].tax[0].b: missing, expected "2"; '
        'lines[0].tax[0].rule: not expected, got "uk-vat"; lines[0].tax[0].rate: not expected,'
        ' got "20"; lines[0].tax[0].amount: not expected, got "45.00"; 1 more difference(s)')


def test_unknown_path_is_named_clearly() -> None:
    report = _run({"name": "typo", "order": {}, "expect": {
        "lines[0].taxes[0].rate": "20", "lines[3].amount": "1", "totals.total.x": "1",
        "lines[0]..amount": "1"}})
    problems = {m.path: (m.problem, m.detail) for m in report.cases[0].mismatches}
    assert problems["lines[0].taxes[0].rate"][0] == "unknown_path"
    assert "lines[0] has no field 'taxes'; did you mean 'tax'?" in \
        problems["lines[0].taxes[0].rate"][1]
    assert "tax" in problems["lines[0].taxes[0].rate"][1]  # the fields that do exist
    assert problems["lines[3].amount"] == ("unknown_path", "lines has 1 item(s), no [3]")
    assert problems["totals.total.x"][0] == "unknown_path"
    assert problems["lines[0]..amount"][0] == "bad_path"


def test_expect_error() -> None:
    report = _run(
        {"name": "right code", "order": {"raise": "billplane"}, "expect_error": "no_tax_rate"},
        {"name": "wrong code", "order": {"raise": "billplane"}, "expect_error": "no_price"},
        {"name": "no error", "order": {}, "expect_error": "no_tax_rate"},
        {"name": "unexpected", "order": {"raise": "billplane"}, "expect": {"totals.total": "1"}},
        {"name": "engine bug", "order": {"raise": "bug"}, "expect": {"totals.total": "1"}},
        {"name": "after the bug", "order": {}, "expect": {"totals.total": "270.00"}},
    )
    passed = {c.name: c.passed for c in report.cases}
    assert passed == {"right code": True, "wrong code": False, "no error": False,
                      "unexpected": False, "engine bug": False, "after the bug": True}
    by_name = {c.name: c for c in report.cases}
    assert "no_tax_rate" in str(by_name["unexpected"].mismatches[0])
    assert "ZeroDivisionError" in str(by_name["engine bug"].mismatches[0])
    assert by_name["wrong code"].mismatches[0].actual == "no_tax_rate"
    # an error without a place reads as its code and message, not `<input>: ...`
    assert str(by_name["unexpected"].mismatches[0]) == \
        "(evaluation): unexpected error: no_tax_rate: no rate [de-vat]"
    assert by_name["wrong code"].mismatches[0].detail == "no_tax_rate: no rate [de-vat]"


# --- coverage -------------------------------------------------------------------------------

def test_coverage_lists_rules_no_case_exercised() -> None:
    report = _run({"name": "one", "order": {}, "expect": {"totals.total": "270.00"}},
                  {"name": "error", "order": {"raise": "billplane"}, "expect_error": "no_tax_rate"})
    cov = report.coverage
    # coverable: 2 pricing + 2 tax + 1 credit + 1 validation + 1 series + 2 products = 9;
    # exercised: ten-off, uk-vat (invoice), de-vat (error), net-30, uk-series, SEAT = 6
    assert (cov.covered, cov.total) == (6, 9)
    assert cov.percent == Decimal("66.7")
    assert cov.unexercised() == {"PricingRule": ["unused-promo"], "ValidationRule": ["vat-id"],
                                 "PriceBook products": ["SUPPORT"]}
    assert "not exercised (PricingRule): unused-promo" in render_text(report)


def test_rules_of_failing_cases_are_not_covered() -> None:
    # the same invoice, but the case fails: it proves nothing about ten-off, uk-vat, ...
    report = _run({"name": "wrong", "order": {}, "expect": {"totals.total": "1.00"}},
                  {"name": "error", "order": {"raise": "billplane"}, "expect_error": "no_tax_rate"})
    assert [c.passed for c in report.cases] == [False, True]
    assert (report.coverage.covered, report.coverage.total) == (1, 9)  # de-vat, by the error
    assert report.coverage.unexercised()["TaxRule"] == ["uk-vat"]


@pytest.mark.parametrize("case", [
    {"name": "nothing", "order": {}},
    {"name": "empty", "order": {}, "expect": {}},
    {"name": "null", "order": {}, "expect": None, "expect_error": None},
])
def test_a_case_without_expectations_fails(case: dict[str, Any]) -> None:
    report = _run(case)
    [result] = report.cases
    assert not result.passed and not report.ok
    [mismatch] = result.mismatches
    assert "case has no expectation" in str(mismatch)
    assert report.coverage.covered == 0  # and it exercises nothing


# --- `billplane test` on a real (small) policy tree -----------------------------------------

POLICIES = """\
apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: book}
spec:
  products:
    - sku: SEAT
      name: Seat
      type: subscription
      prices:
        - {currency: GBP, model: per_unit, unit_amount: 25.00}
    - sku: SUPPORT
      name: Support
      type: service
      prices:
        - {currency: GBP, model: flat, amount: 100.00}
---
apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: uk-vat}
spec:
  tax: vat
  jurisdiction: {country: GB}
  rates: [{rate: 20}]
"""

TESTS = """\
apiVersion: billplane.dev/v1
kind: PolicyTest
metadata: {name: seats}
spec:
  cases:
    - name: ten seats
      order:
        id: O-1
        date: "2026-03-01"
        currency: GBP
        seller: acme-uk
        customer: {id: C-1, country: GB, type: consumer}
        lines: [{sku: SEAT, quantity: "10"}]
      expect:
        lines[0].amount: "250.00"
        totals.tax: "50"
        totals.total: "{total}"
"""


def _tree(tmp_path: Path, total: str) -> Path:
    (tmp_path / "policies.yaml").write_text(POLICIES)
    (tmp_path / "tests.yaml").write_text(TESTS.replace("{total}", total))
    os.chdir(tmp_path)  # the places printed are relative to the working directory
    return tmp_path


@pytest.fixture(autouse=True)
def _keep_cwd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(os.getcwd())  # restored after each test, whatever _tree did


def test_cli_passes_and_reports_coverage(tmp_path: Path, capsys: Any) -> None:
    # 10 x 25.00 = 250.00, VAT 20% = 50.00, total 300.00; SUPPORT never ordered:
    # coverage 2 of 3 (uk-vat, SEAT; not SUPPORT) = 66.7%
    root = _tree(tmp_path, "300.00")
    assert main(["test", str(root)]) == 0
    out = capsys.readouterr().out
    assert "PASS  seats: ten seats" in out
    assert "rule coverage: 66.7% (2/3)" in out
    assert "not exercised (PriceBook products): SUPPORT" in out
    assert main(["test", str(root), "--coverage-min", "66.7"]) == 0
    assert main(["test", str(root), "--coverage-min", "70"]) == 1
    assert "below the minimum 70%" in capsys.readouterr().out


def test_cli_fails_on_a_wrong_expectation(tmp_path: Path, capsys: Any) -> None:
    root = _tree(tmp_path, "301.00")
    assert main(["test", str(root), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["ok"], data["passed"], data["failed"]) == (False, 0, 1)
    # the case's own line (the `- name:` item) and the failed expectation's line
    assert data["cases"][0]["where"] == "tests.yaml:6"
    [mismatch] = data["cases"][0]["mismatches"]
    assert mismatch == {"path": "totals.total", "problem": "differs", "expected": "301.00",
                        "actual": "300.00", "detail": "", "where": "tests.yaml:17"}
    assert main(["test", str(root)]) == 1
    out = capsys.readouterr().out
    assert "      at tests.yaml:6\n" in out
    assert 'totals.total: expected "301.00", got "300.00" (tests.yaml:17)' in out


def test_cli_places_are_under_the_directory_named(tmp_path: Path, capsys: Any) -> None:
    # run from the parent of the policy directory, as `billplane test` from a repository root:
    # every place printed opens from there, as `billplane check` prints them
    (tmp_path / "policies").mkdir()
    root = _tree(tmp_path / "policies", "301.00")
    os.chdir(tmp_path)
    assert main(["test", "policies"]) == 1
    out = capsys.readouterr().out
    assert "      at policies/tests.yaml:6\n" in out
    assert 'totals.total: expected "301.00", got "300.00" (policies/tests.yaml:17)' in out
    (root / "tests.yaml").write_text(TESTS.replace("quantity", "quantty"))
    assert main(["test", "policies"]) == 1
    err = capsys.readouterr().err
    assert "policies/tests.yaml:13:29: unknown_field: unknown field 'quantty'" in err


def test_cli_second_case_points_at_its_own_line(tmp_path: Path, capsys: Any) -> None:
    root = _tree(tmp_path, "300.00")
    with (root / "tests.yaml").open("a") as f:
        f.write("    - name: wrong total\n      order: {id: O-2, date: '2026-03-01', "
                "currency: GBP, seller: acme-uk, customer: {id: C-1, country: GB}, "
                "lines: [{sku: SEAT, quantity: '1'}]}\n"
                "      expect: {totals.total: '999.00'}\n")
    assert main(["test", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  seats: wrong total\n      at tests.yaml:18\n" in out
    assert 'expected "999.00"' in out and "(tests.yaml:20)" in out


def test_cli_unexpected_error_points_at_the_order_field(tmp_path: Path, capsys: Any) -> None:
    root = _tree(tmp_path, "300.00")
    (root / "tests.yaml").write_text(TESTS.replace("sku: SEAT", "sku: SEET"))
    assert main(["test", str(root)]) == 1
    out = capsys.readouterr().out
    # the order's line (13) where the unknown sku is, not the `expect:` below it
    assert ("(evaluation): unexpected error: order.lines[0].sku: unknown_product: no product "
            "with sku SEET (tests.yaml:13)") in out


def test_cli_case_without_expectation_is_refused(tmp_path: Path, capsys: Any) -> None:
    root = _tree(tmp_path, "300.00")
    with (root / "tests.yaml").open("a") as f:
        f.write("    - name: no expectation\n      order: {id: O-2, date: '2026-03-01', "
                "currency: GBP, seller: acme-uk, customer: {id: C-1, country: GB}, "
                "lines: [{sku: SEAT, quantity: '1'}]}\n")
    assert main(["test", str(root)]) == 1
    err = capsys.readouterr().err
    assert "tests.yaml:18:7: invalid_test_case: a case needs expect or expect_error" in err


def test_cli_usage_errors(tmp_path: Path) -> None:
    root = _tree(tmp_path, "300.00")
    assert main(["test", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()  # no policies: never 0 cases at 100% coverage
    assert main(["test", str(tmp_path / "empty"), "--coverage-min", "95"]) == 2
    assert main(["test", str(root), "--coverage-min", "abc"]) == 2
    assert main(["test", str(root), "--coverage-min", "101"]) == 2


def test_cli_invalid_policies_exit_1(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: billplane.dev/v1\nkind: Nope\n")
    assert main(["test", str(tmp_path)]) == 1
    assert "bad.yaml" in capsys.readouterr().err


def test_cli_tests_a_git_revision(tmp_path: Path, capsys: Any) -> None:
    git = pytest.importorskip("git")
    repo = git.Repo.init(tmp_path)
    root = tmp_path / "policies"
    root.mkdir()
    _tree(root, "300.00")
    repo.index.add(["policies/policies.yaml", "policies/tests.yaml"])
    repo.index.commit("policies", author=git.Actor("t", "t@example.com"),
                      committer=git.Actor("t", "t@example.com"))
    _tree(root, "999.00")  # the working tree now expects a wrong total
    assert main(["test", str(root)]) == 1
    assert main(["test", str(root), "--ref", "HEAD"]) == 0
    assert main(["test", str(root), "--ref", "no-such-ref"]) == 2
    assert "revision 'no-such-ref' does not exist" in capsys.readouterr().err
