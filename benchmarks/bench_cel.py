"""CEL cost per evaluation on both backends, and of building views/activations, in one run.

    python benchmarks/bench_cel.py [--lines 10] [--rules 20] [--seconds 0.3]

The order has LINES lines; the bundle has RULES line conditions (applies_to) and RULES order
conditions (when). "per order" = every line condition on every line + every order condition.
Line strategies compared on the C++ backend:
  batched   - engine.context.CelScope: one evaluation per line answers every line program
  per-prog  - one evaluation per (program, line), `line` bound to order.lines[i] in one activation
  per-line  - a fresh activation per line holding order, customer and line (order re-converted)
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.cel import get_backend
from engine.cel.cpp import CppSession, eval_env
from engine.context import CelScope
from engine.errors import Location
from engine.model import Order, OrderLine

PRODUCTS = {f"SKU-{i}": {"type": ("subscription", "usage", "service")[i % 3], "unit": "seat"}
            for i in range(10)}


def _order(lines: int) -> Order:
    customer = {"id": "C-1", "country": "GB", "type": "business", "segment": "enterprise",
                "tax_id": "GB123", "exemptions": ["charity"], "address": {"city": "London"}}
    return Order("O-1", dt.date(2026, 3, 1), "GBP", "acme-uk", customer, [
        OrderLine(i, f"SKU-{i % 10}", Decimal(i % 7 + 1), attributes={"k": "v"})
        for i in range(lines)], coupons=("WELCOME10",), attributes={"channel": "web"})


def _bundle(backend: str, rules: int) -> Bundle:
    cel = get_backend(backend)
    docs, programs = {}, {}
    for r in range(rules):
        name = f"rule-{r:03d}"
        docs[name] = PolicyDoc("PricingRule", name, {}, Location("rules.yaml", r + 1, 1))
        programs[(name, "spec.applies_to")] = cel.compile(
            f"line.product_type == 'subscription' && line.units > {r % 5} || "
            f"line.sku.startsWith('SKU-{r % 10}') && order.currency == 'GBP'", "line")
        programs[(name, "spec.when")] = cel.compile(
            f"customer.segment == 'enterprise' && '{r}' != customer.country || "
            f"'WELCOME{r}' in order.coupons", "order")
    return Bundle("rev", "digest", docs, backend=backend, programs=programs, products=PRODUCTS)


def _time(fn: Callable[[], Any], seconds: float) -> float:
    """Seconds per call: the best of 5 rounds of about seconds/5 each (the machine is shared)."""
    fn()
    best = float("inf")
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 5:
                break
        best = min(best, elapsed / calls)
    return best


def run(lines: int, rules: int, seconds: float) -> list[tuple[str, float]]:
    """Return (label, microseconds) rows."""
    rows: list[tuple[str, float]] = []
    order = _order(lines)
    evals = lines * rules + rules
    for backend in ("cel-expr", "cel-python"):
        bundle = _bundle(backend, rules)
        docs = list(bundle.docs.values())

        def per_order(bundle: Bundle = bundle, docs: list[PolicyDoc] = docs,
                      backend: str = backend) -> None:
            scope = CelScope(bundle, order, backend)
            for doc in docs:
                scope.order_true(doc, "when")
            for i in range(lines):
                for doc in docs:
                    scope.line_true(doc, "applies_to", i)

        t = _time(per_order, seconds if backend == "cel-expr" else seconds * 3)
        rows.append((f"{backend}: per order ({evals} evaluations, batched)", t * 1e6))
        rows.append((f"{backend}: per evaluation", t * 1e6 / evals))
        rows.append((f"{backend}: views (CelScope construction)",
                     _time(partial(CelScope, bundle, order, backend), seconds) * 1e6))
        scope = CelScope(bundle, order, backend)
        cel = get_backend(backend)
        first = bundle.programs[(docs[0].name, "spec.when")]

        def session(cel: Any = cel, view: dict[str, Any] = scope.order_view,
                    first: Any = first) -> None:
            cel.session(view).order(first)

        rows.append((f"{backend}: session (activation + conversion, one condition)",
                     _time(session, seconds) * 1e6))

    # line strategies on the C++ backend
    bundle = _bundle("cel-expr", rules)
    line_programs = [p for (_, f), p in sorted(bundle.programs.items()) if f == "spec.applies_to"]
    scope = CelScope(bundle, order, "cel-expr")
    view = scope.order_view

    def per_prog() -> None:
        session = CppSession(view, None)
        for i in range(lines):
            for p in line_programs:
                session.line(p, i)

    def per_line() -> None:
        for i in range(lines):
            act = eval_env().Activation({"order": view, "customer": view["customer"],
                                         "line": view["lines"][i]})
            for p in line_programs:
                p.evaluate(act)

    def batched() -> None:
        session = get_backend().session(view, batch)
        for i in range(lines):
            for p in line_programs:
                session.line(p, i)

    # the batch of every program (no Python fast forms), as CelScope builds it on first use
    batched_once = CelScope(bundle, order, "cel-expr", fast=False)
    batched_once.line_true(next(iter(bundle.docs.values())), "applies_to", 0)
    batch = bundle.index["cel.batch:cel-expr:False"]
    for label, fn in (("batched", batched), ("per-prog", per_prog), ("per-line", per_line)):
        t = _time(fn, seconds)
        rows.append((f"cel-expr line strategy {label}: {lines}x{rules} line evaluations",
                     t * 1e6))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=0.3, help="time per measurement")
    args = parser.parse_args()
    for label, micros in run(args.lines, args.rules, args.seconds):
        print(f"{label:<72} {micros:>12.1f} us")


if __name__ == "__main__":
    main()
