"""Run the PolicyTest cases of a bundle: evaluate each order and compare expected fields.

Expected values are compared with the invoice document by `engine.expect` (exact decimals:
`"20"` matches `"20.00"`). A case without expectations fails: it could never fail otherwise.
Rule coverage lists the rules no passing case exercised, derived from each invoice's trace
(rule ids), its discounts, taxes, payment policy, recognition rules, series, products and
violations; a failing case proves nothing about the rules it touched, so it does not count.
Given the policy files, failures point at the case's own line and each expectation's line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.errors import BillplaneError
from engine.expect import Mismatch, check, parse_path
from engine.yamldoc import load_documents, location_of

COVERED_KINDS = ("PricingRule", "TaxRule", "CreditPolicy", "RecognitionRule", "ValidationRule",
                 "InvoiceSeries")
PRODUCTS = "PriceBook products"

Evaluator = Callable[..., Any]


@dataclass
class CaseResult:
    """The outcome of one PolicyTest case."""

    suite: str
    name: str
    where: str
    mismatches: list[Mismatch] = field(default_factory=list)
    rules: set[str] = field(default_factory=set)

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "name": self.name, "where": self.where,
                "passed": self.passed, "mismatches": [m.to_dict() for m in self.mismatches]}


@dataclass
class Coverage:
    """Which rules of the bundle the cases exercised, per kind."""

    rules: dict[str, list[str]]  # kind (or PRODUCTS) -> names (skus)
    exercised: set[tuple[str, str]]

    @property
    def total(self) -> int:
        return sum(len(names) for names in self.rules.values())

    @property
    def covered(self) -> int:
        return sum(1 for kind, names in self.rules.items() for n in names
                   if (kind, n) in self.exercised)

    @property
    def percent(self) -> Decimal:
        """Covered share in percent, one decimal (100 when there is nothing to cover)."""
        if not self.total:
            return Decimal(100)
        return (Decimal(self.covered) * 100 / self.total).quantize(Decimal("0.1"))

    def unexercised(self) -> dict[str, list[str]]:
        out = {kind: [n for n in names if (kind, n) not in self.exercised]
               for kind, names in self.rules.items()}
        return {kind: names for kind, names in out.items() if names}

    def to_dict(self) -> dict[str, Any]:
        return {"percent": str(self.percent), "covered": self.covered, "total": self.total,
                "unexercised": self.unexercised()}


@dataclass
class TestReport:
    """Every case result and the rule coverage."""

    cases: list[CaseResult]
    coverage: Coverage

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        return len(self.cases) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed,
                "cases": [c.to_dict() for c in self.cases], "coverage": self.coverage.to_dict()}


class _Locator:
    """Lines of the cases and their expectations in the PolicyTest files (parsed on demand)."""

    def __init__(self, files: Mapping[str, bytes] | None) -> None:
        self.files = files or {}
        self.roots: dict[str, list[Any]] = {}

    def _root(self, doc: PolicyDoc) -> Any:
        path = doc.location.file
        if path not in self.roots:
            try:
                self.roots[path] = load_documents(path, self.files[path])
            except (KeyError, BillplaneError):  # not given, or not the loaded text
                self.roots[path] = []
        for root in self.roots[path]:
            if isinstance(root, dict) and (root.get("metadata") or {}).get("name") == doc.name:
                return root
        return None

    def where(self, doc: PolicyDoc, steps: list[str | int]) -> str:
        """`file:line` of `steps` inside the document, or '' when the file is not known."""
        root = self._root(doc)
        found = location_of(root, steps) if root is not None else None
        return f"{found.file}:{found.line}" if found is not None and found.line else ""


def run_policy_tests(bundle: Bundle, backend: str | None = None,
                     evaluate: Evaluator | None = None,
                     files: Mapping[str, bytes] | None = None) -> TestReport:
    """Evaluate every PolicyTest case of `bundle` and compare its expectations.

    `files` (the policy files the bundle was loaded from) lets failures name their lines.
    """
    if evaluate is None:
        from engine.evaluate import evaluate as engine_evaluate

        evaluate = engine_evaluate
    results: list[CaseResult] = []
    exercised: set[tuple[str, str]] = set()
    for doc in bundle.kind("PolicyTest"):
        for i, case in enumerate(doc.spec.get("cases") or []):
            result = run_case(bundle, doc, i, case, evaluate, backend)
            results.append(result)
            if result.passed:
                exercised |= {_key(bundle, r) for r in result.rules}
    report = TestReport(results, Coverage(coverable_rules(bundle), exercised))
    if files:
        locate_failures(report, bundle, files)
    return report


def locate_failures(report: TestReport, bundle: Bundle, files: Mapping[str, bytes]) -> None:
    """Point each failing case of a report of `bundle` at its own line (and each failed
    expectation at its line) in the policy files the bundle was loaded from; the policy
    files are parsed only when a case failed."""
    if report.ok:
        return
    locate = _Locator(files)
    cases = iter(report.cases)
    for doc in bundle.kind("PolicyTest"):
        for i, _case in enumerate(doc.spec.get("cases") or []):
            result = next(cases, None)
            if result is None:
                return
            if not result.passed:
                _place(result, doc, i, locate)


def _place(result: CaseResult, doc: PolicyDoc, position: int, locate: _Locator) -> None:
    """Point a failing case at its own line and each failed expectation at its line."""
    steps: list[str | int] = ["spec", "cases", position]
    result.where = locate.where(doc, steps) or result.where
    placed = []
    for mismatch in result.mismatches:
        # an evaluation that failed unexpectedly is about the case's order (or its as_of)
        inside = _PLACES.get(mismatch.path, ["expect", mismatch.path])
        if mismatch.path == "(evaluation)":
            inside = _order_field(mismatch.detail) or inside
        where = locate.where(doc, [*steps, *inside])
        placed.append(replace(mismatch, where=where) if where != result.where else mismatch)
    result.mismatches = placed


_PLACES: dict[str, list[str | int]] = {"expect_error": ["expect_error"], "(case)": [],
                                       "(evaluation)": ["order"]}
"""Where in a case a mismatch that is not about one expected path points."""


_ORDER_FIELD = re.compile(r"^unexpected error: (order(?:\.[A-Za-z0-9_]+|\[[0-9]+\])*): ")


def _order_field(detail: str) -> list[str | int]:
    """The steps to the order field an unexpected evaluation error names first, if any."""
    found = _ORDER_FIELD.match(detail)
    return parse_path(found.group(1)) if found else []


def _said(exc: BillplaneError) -> str:
    """An evaluation error as the report says it: a problem without a place has no `<input>`."""
    return "; ".join(str(d) if d.location.file else str(d).removeprefix(f"{d.location}: ")
                     for d in exc.diagnostics)


def run_case(bundle: Bundle, doc: PolicyDoc, position: int, case: dict[str, Any],
             evaluate: Evaluator, backend: str | None = None) -> CaseResult:
    """Evaluate one case; never raises for a failing or erroring evaluation."""
    name = str(case.get("name") or f"case {position + 1}")
    result = CaseResult(doc.name, name, f"{doc.where} case {position + 1}")
    expect = case.get("expect")
    expect_error = case.get("expect_error")
    if expect is not None and expect_error:
        result.mismatches.append(Mismatch("expect_error", expect_error, problem="error",
                                          detail="a case has either expect or expect_error"))
        return result
    if not expect and not expect_error:
        result.mismatches.append(Mismatch("(case)", None, problem="error",
                                          detail="case has no expectation (give expect with "
                                                 "at least one field, or expect_error)"))
        return result
    kwargs: dict[str, Any] = {"as_of": case.get("as_of")}
    if backend is not None:
        kwargs["backend"] = backend
    try:
        invoice = evaluate(bundle, case.get("order"), **kwargs)
    except BillplaneError as exc:
        result.rules |= {d.rule for d in exc.diagnostics if d.rule}
        codes = [d.code for d in exc.diagnostics]
        if expect_error:
            if expect_error not in codes:
                result.mismatches.append(Mismatch("expect_error", expect_error, codes[0],
                                                  detail=_said(exc)))
            return result
        result.mismatches.append(Mismatch("(evaluation)", None, problem="error",
                                          detail=f"unexpected error: {_said(exc)}"))
        return result
    except Exception as exc:  # a bug in the engine must not stop the other cases
        result.mismatches.append(Mismatch("(evaluation)", expect_error, problem="error",
                                          detail=f"internal error: {type(exc).__name__}: {exc}"))
        return result
    document = invoice.document
    result.rules |= rules_of(invoice)
    if expect_error:
        result.mismatches.append(Mismatch("expect_error", expect_error, "(no error)",
                                          detail="evaluation succeeded"))
        return result
    for path, expected in (expect or {}).items():
        mismatch = check(document, str(path), expected)
        if mismatch is not None:
            result.mismatches.append(mismatch)
    return result


def rules_of(invoice: Any) -> set[str]:
    """Rule ids (and `sku:`/`series:` references) an evaluated invoice used."""
    doc = invoice.document
    found = {entry["rule"] for entry in getattr(invoice, "trace", []) or []}
    for line in doc.get("lines") or []:
        found.add(f"sku:{line.get('sku', '')}")
        found |= {d.get("rule", "") for d in line.get("discounts") or []}
        found |= {t.get("rule", "") for t in line.get("tax") or []}
    for priced in getattr(invoice, "lines", []) or []:
        found.add(getattr(priced, "recognition_rule", ""))
        found.add(getattr(priced, "price_rule", ""))
    payment = doc.get("payment")
    if isinstance(payment, dict):
        found.add(str(payment.get("policy") or ""))
    if doc.get("series"):
        found.add(f"series:{doc.get('seller', '')}:{doc['series']}")
    found |= {v.get("rule", "") for v in doc.get("violations") or []}
    found.discard("")
    return found


def coverable_rules(bundle: Bundle) -> dict[str, list[str]]:
    """Names of the rules coverage is measured over, per kind, plus the product skus."""
    out = {kind: sorted(d.name for d in bundle.kind(kind)) for kind in COVERED_KINDS}
    out[PRODUCTS] = sorted(bundle.products)
    return {kind: names for kind, names in out.items() if names}


def _key(bundle: Bundle, reference: str) -> tuple[str, str]:
    if reference.startswith("sku:"):
        return PRODUCTS, reference[4:]
    if reference.startswith("series:"):
        _, seller, series = reference.split(":", 2)
        for doc in bundle.kind("InvoiceSeries"):
            if doc.spec.get("series") == series and doc.spec.get("seller", seller) == seller:
                return "InvoiceSeries", doc.name
        return "InvoiceSeries", series
    found = bundle.docs.get(reference)
    return (found.kind, found.name) if found is not None else ("", reference)


def render_text(report: TestReport, coverage_min: Decimal | None = None) -> str:
    """The report as a readable text: one line a case, a diff per failure, the coverage."""
    out: list[str] = []
    for case in report.cases:
        mark = "PASS" if case.passed else "FAIL"
        out.append(f"{mark}  {case.suite}: {case.name}")
        if not case.passed:
            out.append(f"      at {case.where}")
            out.extend(f"      - {m}" for m in case.mismatches)
    cov = report.coverage
    out.append("")
    out.append(f"{report.passed} passed, {report.failed} failed, {len(report.cases)} cases")
    line = f"rule coverage: {cov.percent}% ({cov.covered}/{cov.total})"
    if coverage_min is not None:
        line += f", minimum {coverage_min}%"
    out.append(line)
    for kind, names in cov.unexercised().items():
        out.append(f"  not exercised ({kind}): {', '.join(names)}")
    return "\n".join(out)
