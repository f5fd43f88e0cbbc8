"""The discount stage: PricingRule discounts, coupons and price overrides.

Semantics (docs/policy-format.md, PricingRule), made precise here:
- Rules run in (priority, name) order, each on what is left of a line after the discounts
  before it, so priority matters for percentages.
- A rule applies when its effective range holds the order date, its coupon is on the order,
  its duration has not run out and its `when` is true; `applies_to` picks the lines.
- `exclusive`: when any exclusive rule applies, only the one giving the largest discount does,
  and no other rule. `best`: of the applicable `best` rules only the largest applies, next to the
  `stack` rules. "Largest" is measured on the undiscounted lines; ties go to the earlier rule.
- Order-scope amounts are computed once over the targeted lines and allocated to them by largest
  remainder, weighted by what is left of each line.
- `max_percent` bounds a line's total discount (all rules) to that share of its amount; `cap`
  bounds the rule's discount over the order; no discount takes a line below zero.
- Amounts round to the currency's minor units: `amount_off` with the rule's rounding, `cap`
  down (JPY 100.5 off is 101 with half_up, a cap of 100.5 is 100).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from engine.bundle import Bundle, PolicyDoc
from engine.model import Discount, Order, PricedLine, TraceEntry, trace_entry
from engine.money import HUNDRED, ZERO, allocate, quantize
from engine.pricing.proration import add_months


class Conditions(Protocol):
    """The part of `engine.context.CelScope` this stage uses."""

    def order_true(self, doc: PolicyDoc, field: str) -> bool: ...

    def line_true(self, doc: PolicyDoc, field: str, index: int) -> bool: ...


def _money(value: Any, currency: str) -> Decimal | None:
    if not value or currency not in value:
        return None
    amount = value[currency]
    return amount if isinstance(amount, Decimal) else Decimal(str(amount))


def _applies(doc: PolicyDoc, order: Order, day: str, scope: Conditions) -> bool:
    spec = doc.spec
    effective = spec.get("effective") or {}
    if effective.get("from") and day < str(effective["from"]):
        return False
    if effective.get("until") and day >= str(effective["until"]):
        return False
    coupon = spec.get("coupon")
    if coupon and coupon not in order.coupons:
        return False
    months = spec.get("duration_months")
    if months:
        since = order.customer.get("since") or day
        start = dt.date.fromisoformat(str(since))
        if order.date >= add_months(start, int(months)):
            return False
    return not ("when" in spec and not scope.order_true(doc, "spec.when"))


def _targets(doc: PolicyDoc, count: int, scope: Conditions) -> list[int]:
    if "applies_to" not in doc.spec:
        return list(range(count))
    return [i for i in range(count) if scope.line_true(doc, "spec.applies_to", i)]


def _grants(doc: PolicyDoc, lines: Sequence[PricedLine], taken: list[Decimal],
            targets: list[int], currency: str) -> list[Decimal]:
    """This rule's discount on every line, given what earlier rules `taken` from each."""
    spec = doc.spec
    effect = spec["effect"]
    mode = spec.get("rounding", "half_up")
    order_scope = _scope_of(doc) == "order"
    left = [lines[i].amount - taken[i] for i in range(len(lines))]
    out = [ZERO] * len(lines)
    if "override_unit_amount" in effect:
        unit = _money(effect["override_unit_amount"], currency)
        if unit is None:
            return out
        for i in targets:
            new = quantize(unit * lines[i].order_line.quantity, currency, mode)
            out[i] = max(ZERO, left[i] - new)
    elif order_scope:
        base = sum((left[i] for i in targets), ZERO)
        if "percent_off" in effect:
            total = quantize(base * Decimal(effect["percent_off"]) / HUNDRED, currency, mode)
        else:
            off = _money(effect["amount_off"], currency)
            total = min(quantize(off, currency, mode), base) if off is not None else ZERO
        if total > 0 and targets:
            for i, share in zip(targets, allocate(total, [left[i] for i in targets], currency),
                                strict=True):
                out[i] = share
    elif "percent_off" in effect:
        percent = Decimal(effect["percent_off"])
        for i in targets:
            out[i] = quantize(left[i] * percent / HUNDRED, currency, mode)
    else:
        off = _money(effect.get("amount_off"), currency)
        if off is not None:
            off = quantize(off, currency, mode)  # a policy amount may have more digits
            for i in targets:
                out[i] = off
    if spec.get("max_percent") is not None:
        share = Decimal(spec["max_percent"]) / HUNDRED
        for i in targets:
            room = quantize(lines[i].amount * share, currency, "down") - taken[i]
            out[i] = min(out[i], max(ZERO, room))
    for i in targets:  # lines outside the targets have no discount from this rule
        out[i] = min(max(ZERO, out[i]), max(ZERO, left[i]))
    cap = _money(spec.get("cap"), currency)
    if cap is not None:
        cap = quantize(cap, currency, "down")  # in minor units, and never above the cap
    if cap is not None and sum(out, ZERO) > cap:
        out = allocate(cap, out, currency)
    return out


def _scope_of(doc: PolicyDoc) -> str:
    return str(doc.spec.get("scope") or ("line" if "applies_to" in doc.spec else "order"))


def _stacking(doc: PolicyDoc) -> str:
    return str(doc.spec.get("stacking", "stack"))


def _largest(docs: list[PolicyDoc], lines: Sequence[PricedLine], targets: dict[str, list[int]],
             currency: str) -> PolicyDoc | None:
    best: PolicyDoc | None = None
    best_total = Decimal(-1)
    fresh = [ZERO] * len(lines)
    for doc in docs:
        total = sum(_grants(doc, lines, fresh, targets[doc.name], currency), ZERO)
        if total > best_total:
            best, best_total = doc, total
    return best


def apply_discounts(bundle: Bundle, order: Order, lines: list[PricedLine], scope: Conditions,
                    trace: list[TraceEntry] | None) -> None:
    """Fill `line.discounts` from the bundle's PricingRules (see the module docstring); traces
    each discount unless `trace` is None."""
    docs = bundle.kind("PricingRule")
    if not docs or not lines:
        return
    day = order.date.isoformat()
    currency = order.currency
    active = [doc for doc in docs if _applies(doc, order, day, scope)]
    targets = {doc.name: _targets(doc, len(lines), scope) for doc in active}
    exclusive = [doc for doc in active if _stacking(doc) == "exclusive"]
    if exclusive:
        winner = _largest(exclusive, lines, targets, currency)
        chosen = [winner] if winner else []
    else:
        winner = _largest([d for d in active if _stacking(d) == "best"], lines, targets,
                          currency)
        chosen = [d for d in active if _stacking(d) == "stack" or d is winner]
    taken = [line.discount_total for line in lines]
    for doc in chosen:
        grants = _grants(doc, lines, taken, targets[doc.name], currency)
        rule_scope = _scope_of(doc)
        coupon = str(doc.spec.get("coupon", ""))
        # what the trace needs to explain the amount: the effect, its rounding to minor
        # units, and the limits that can have cut it
        effect = {k: str(v) if not isinstance(v, dict) else str(v.get(currency, ""))
                  for k, v in doc.spec["effect"].items()}
        effect["rounding"] = str(doc.spec.get("rounding", "half_up"))
        for limit in ("max_percent", "cap"):
            value = doc.spec.get(limit)
            if value is not None and (not isinstance(value, dict) or currency in value):
                effect[limit] = str(value[currency] if isinstance(value, dict) else value)
        for i, amount in enumerate(grants):
            if not amount:
                continue
            line = lines[i]
            base = line.amount - taken[i]
            line.discounts.append(Discount(doc.name, amount, rule_scope, coupon))
            taken[i] += amount
            if trace is None:
                continue
            k = len(line.discounts) - 1
            trace.append(trace_entry(
                f"lines[{line.order_line.index}].discounts[{k}].amount", doc.name, doc.where,
                amount, {"scope": rule_scope, "base": str(base), **effect}))
