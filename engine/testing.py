"""Run the PolicyTest cases of a bundle: evaluate each order and compare expected fields.

Expected values are compared with the invoice document as follows:
- paths are dotted with `[i]` indexes (`lines[0].tax[0].rate`, `payment.installments[-1]`);
- numbers and decimal-looking strings compare as exact decimals, so `"20"` matches `"20.00"`
  (the invoice formats amounts with the currency's minor digits; a rate is a plain decimal);
- booleans and null compare as themselves, other strings exactly, lists and maps item by item.
Rule coverage lists the rules no case exercised, derived from each invoice's trace (rule ids),
its discounts, taxes, payment policy, recognition rules, series, products and violations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.errors import BillplaneError

COVERED_KINDS = ("PricingRule", "TaxRule", "CreditPolicy", "RecognitionRule", "ValidationRule",
                 "InvoiceSeries")
PRODUCTS = "PriceBook products"

_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_SEGMENT = re.compile(r"([A-Za-z0-9_-]+)((?:\[-?[0-9]+\])*)$")
_INDEX = re.compile(r"\[(-?[0-9]+)\]")
_MISSING = object()

Evaluator = Callable[..., Any]


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold."""

    path: str
    expected: Any
    actual: Any = None
    problem: str = "differs"  # differs | unknown_path | bad_path | error
    detail: str = ""

    def __str__(self) -> str:
        if self.problem == "differs":
            return f"{self.path}: expected {show(self.expected)}, got {show(self.actual)}"
        if self.problem == "error":
            return f"{self.path}: {self.detail}"
        return f"{self.path}: {self.problem.replace('_', ' ')}: {self.detail}"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "problem": self.problem, "expected": plain(self.expected),
                "actual": plain(self.actual), "detail": self.detail}


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


def run_policy_tests(bundle: Bundle, backend: str | None = None,
                     evaluate: Evaluator | None = None) -> TestReport:
    """Evaluate every PolicyTest case of `bundle` and compare its expectations."""
    if evaluate is None:
        from engine.evaluate import evaluate as engine_evaluate

        evaluate = engine_evaluate
    results: list[CaseResult] = []
    exercised: set[tuple[str, str]] = set()
    for doc in bundle.kind("PolicyTest"):
        for i, case in enumerate(doc.spec.get("cases") or []):
            result = run_case(bundle, doc, i, case, evaluate, backend)
            results.append(result)
            exercised |= {_key(bundle, r) for r in result.rules}
    return TestReport(results, Coverage(coverable_rules(bundle), exercised))


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
                                                  detail=str(exc)))
            return result
        result.mismatches.append(Mismatch("(evaluation)", None, problem="error",
                                          detail=f"unexpected error: {exc}"))
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


def check(document: Any, path: str, expected: Any) -> Mismatch | None:
    """None when the value at `path` matches `expected`, else what is wrong."""
    try:
        steps = parse_path(path)
    except ValueError as exc:
        return Mismatch(path, expected, problem="bad_path", detail=str(exc))
    actual, detail = resolve(document, steps)
    if actual is _MISSING:
        return Mismatch(path, expected, problem="unknown_path", detail=detail)
    if not matches(expected, actual):
        return Mismatch(path, expected, actual)
    return None


def parse_path(path: str) -> list[str | int]:
    """`lines[0].tax[1].rate` -> ["lines", 0, "tax", 1, "rate"]; ValueError when malformed."""
    steps: list[str | int] = []
    if not path:
        raise ValueError("empty path")
    for part in path.split("."):
        found = _SEGMENT.match(part)
        if not found:
            raise ValueError(f"cannot read {part!r} (use name, name[0], a.b[1].c)")
        steps.append(found.group(1))
        steps.extend(int(i) for i in _INDEX.findall(found.group(2)))
    return steps


def resolve(document: Any, steps: list[str | int]) -> tuple[Any, str]:
    """The value at `steps`, or (_MISSING, why) naming the deepest part that exists."""
    node = document
    where = ""
    for step in steps:
        if isinstance(step, int):
            if not isinstance(node, list):
                return _MISSING, f"{where or 'the invoice'} is not a list"
            if not -len(node) <= step < len(node):
                return _MISSING, f"{where} has {len(node)} item(s), no [{step}]"
            node = node[step]
            where = f"{where}[{step}]"
        else:
            if not isinstance(node, dict):
                return _MISSING, f"{where or 'the invoice'} is {show(node)}, not a map"
            if step not in node:
                fields = ", ".join(sorted(node))
                return _MISSING, f"{where or 'the invoice'} has no field {step!r} ({fields})"
            node = node[step]
            where = f"{where}.{step}" if where else step
    return node, ""


def matches(expected: Any, actual: Any) -> bool:
    """Compare an expected YAML value with an invoice value (see the module docstring)."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(matches(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and set(map(str, expected)) == set(actual)
                and all(matches(v, actual[str(k)]) for k, v in expected.items()))
    if isinstance(actual, list | dict):
        return False
    left, right = _decimal(expected), _decimal(actual)
    if left is not None and right is not None:
        return left == right
    return str(expected) == str(actual)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL.match(value):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    return None


def rules_of(invoice: Any) -> set[str]:
    """Rule ids (and `sku:`/`series:` references) an evaluated invoice used."""
    doc = invoice.document
    found = {entry.rule for entry in getattr(invoice, "trace", []) or []}
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


def show(value: Any) -> str:
    """A value as it would read in the test file."""
    value = plain(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def plain(value: Any) -> Any:
    """JSON-friendly copy: Decimals become strings."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


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
