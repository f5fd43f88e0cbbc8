"""The tax stage: fills `line.taxes` and `line.included_tax` from the bundle's TaxRules.

Per line, the most specific matching rule per kind of tax applies (see `engine.tax_match`).
Exclusive tax = taxable x rate / 100. Inclusive tax (prices include it) = gross x rate /
(100 + sum of the line's inclusive rates), recorded as `line.included_tax` so that the line's
net stays tax-exclusive; the tax a discount of such a line contains is
`line.discount_included_tax`, so that amount and discount can be shown exclusive of tax too.
Exemptions, `not_taxed` rules and EU reverse charge give a zero charge with the code (none
for a reverse charge) and the reason statement recorded. Rounding is per line, or per
invoice: the exact tax of each (rule, rate) group is summed, rounded once and allocated to
its lines by largest remainder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.model import Order, PricedLine, TaxCharge, TraceEntry, Violation, trace_entry
from engine.money import allocate, exponent, fmt, formatter, quantize, quantizer
from engine.tax_match import (
    candidate_rules,
    check_seller,
    exemption_for,
    jurisdiction_label,
    rate_on,
    reverse_charge,
    reverse_charge_reason,
    rules_for_line,
)

HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass
class _Pending:
    """A charge whose amount is still exact (not yet rounded)."""

    position: int
    charge: TaxCharge
    doc: PolicyDoc
    base: Decimal  # gross for inclusive taxes, net for exclusive ones
    exact: Decimal
    rule_rate: Decimal
    inclusive_sum: Decimal = ZERO  # the line's inclusive rates (they set the tax-free base)

    def share(self) -> Fraction:
        """The exact charge as a fraction (the Decimal `exact` carries 50 digits only)."""
        gross, rate = Fraction(self.base), Fraction(self.charge.rate)
        divisor = 100 + Fraction(self.inclusive_sum)
        if self.charge.inclusive:
            return gross * rate / divisor
        return gross * 100 / divisor * rate / 100


def _allocate_rounded(total: Decimal, exacts: list[Decimal], currency: str) -> list[Decimal]:
    """Split a rounded total over exact parts: floor each, then one minor unit each to the
    largest remainders (ties to the earlier part), so the parts sum to `total` exactly."""
    e = exponent(currency)
    units = [x.scaleb(e) for x in exacts]
    floors = [int(u.to_integral_value(rounding=ROUND_FLOOR)) for u in units]
    left = int(total.scaleb(e)) - sum(floors)
    order = sorted(range(len(units)), key=lambda i: (-(units[i] - floors[i]), i))
    for i in order[: max(left, 0)]:
        floors[i] += 1
    return [Decimal(f).scaleb(-e) for f in floors]


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a rule says for this order, the same on every line: worked out once per order."""

    rate: Decimal  # the rule's rate on the order date; 0 when nothing is charged
    exemption: str
    reason: str
    reverse: bool
    inclusive: bool
    tax: str
    jurisdiction: str
    warning: Violation | None
    charged: bool  # neither exempt nor reverse charged


def _facts(doc: PolicyDoc, order: Order) -> _Facts:
    spec = doc.spec
    exemption, reason = exemption_for(doc, order.customer)
    reverse, warning = (False, None) if exemption else reverse_charge(doc, order)
    if reverse:
        reason = reverse_charge_reason(doc)
    # a rule without rates (reverse charge only) needs one only when it charges
    rate = ZERO if (exemption or reverse) and not spec.get("rates") else rate_on(doc, order.date)
    return _Facts(rate, exemption, reason, reverse, bool(spec.get("inclusive", False)),
                  str(spec.get("tax", "vat")), jurisdiction_label(doc, order.customer), warning,
                  not (exemption or reverse))


_Active = tuple[list[tuple[PolicyDoc, _Facts]], Decimal]
"""A line's rules with their facts, and the sum of its charged inclusive rates."""


def _active(docs: list[PolicyDoc], order: Order, known: dict[str, _Facts]) -> _Active:
    """The facts of a line's rules (`known` holds those already worked out for the order)."""
    active = []
    for doc in docs:
        facts = known.get(doc.name)
        if facts is None:
            facts = known[doc.name] = _facts(doc, order)
        active.append((doc, facts))
    inclusive_sum = sum((f.rate for _, f in active if f.inclusive and f.charged), ZERO)
    return active, inclusive_sum


def _line_charges(position: int, line: PricedLine, active: _Active) -> list[_Pending]:
    """The unrounded charges of one line (under `apply_taxes`'s 50-digit context) under its
    rules' facts (`_active`)."""
    gross = line.amount - line.discount_total
    found = []
    rules, inclusive_sum = active
    # exclusive taxes are charged on the tax-exclusive amount of the line
    net = gross - gross * inclusive_sum / (HUNDRED + inclusive_sum) if inclusive_sum else gross
    for doc, f in rules:
        charged = f.charged
        base = gross if f.inclusive else net
        if not charged:
            exact = ZERO
        elif f.inclusive:
            exact = base * f.rate / (HUNDRED + inclusive_sum)
        else:
            exact = base * f.rate / HUNDRED
        charge = TaxCharge(
            rule=doc.name,
            tax=f.tax,
            jurisdiction=f.jurisdiction,
            rate=f.rate if charged else ZERO,
            taxable=gross,
            amount=ZERO,
            inclusive=f.inclusive,
            reverse_charge=f.reverse,
            exemption=f.exemption,
            reason=f.reason,
        )
        found.append(_Pending(position, charge, doc, gross, exact, f.rate, inclusive_sum))
    return found


def _round(pending: list[_Pending], currency: str) -> None:
    per_invoice: dict[tuple[str, Decimal, bool], list[_Pending]] = {}
    # per rule: whether it rounds per invoice, and its line rounding (most orders have a
    # rule or two and many lines: the spec is read once per rule, not once per charge)
    how: dict[str, tuple[bool, Callable[[Decimal], Decimal]]] = {}
    for item in pending:
        rule = how.get(item.doc.name)
        if rule is None:
            spec = item.doc.spec
            rule = how[item.doc.name] = (spec.get("rounding_level") == "invoice",
                                         quantizer(currency, spec.get("rounding", "half_up")))
        if rule[0] and item.exact:
            key = (item.doc.name, item.charge.rate, item.charge.inclusive)
            per_invoice.setdefault(key, []).append(item)
        else:
            item.charge.amount = rule[1](item.exact)
    for group in per_invoice.values():
        mode = group[0].doc.spec.get("rounding", "half_up")
        # summed as fractions: 50-digit quotients can sum to just below a half-cent tie
        exact_sum = sum((item.share() for item in group), Fraction(0))
        with localcontext() as ctx:
            ctx.prec = 60
            total = quantize(Decimal(exact_sum.numerator) / Decimal(exact_sum.denominator),
                             currency, mode)
        for item, amount in zip(
            group, _allocate_rounded(total, [i.exact for i in group], currency), strict=True
        ):
            item.charge.amount = amount


def _discount_tax(pending: list[_Pending], lines: list[PricedLine], currency: str
                  ) -> dict[int, Decimal]:
    """The tax each discount of a price that includes tax contains, by place in `pending`.

    It is the tax of the undiscounted amount, rounded as the charge is, less the tax charged.
    Per line: round(tax of the amount) - charge. Per invoice: the (rule, rate) group's
    undiscounted tax rounded once, less the group's charges, allocated to its discounted lines
    by largest remainder in proportion to the tax of their discounts. Rounding never
    decreases as an amount grows, so neither figure is negative (a per-line figure against a
    per-invoice charge can be: the charge may hold a leftover cent the line's own rounding
    does not)."""
    shares: dict[int, Decimal] = {}
    groups: dict[tuple[str, Decimal], list[int]] = {}
    for n, item in enumerate(pending):
        charge = item.charge
        if not (charge.inclusive and lines[item.position].discounts):
            continue
        spec = item.doc.spec
        if spec.get("rounding_level") == "invoice":
            groups.setdefault((item.doc.name, charge.rate), [])
            continue
        line = lines[item.position]
        shares[n] = quantize(line.amount * charge.rate / (HUNDRED + item.inclusive_sum),
                             currency, spec.get("rounding", "half_up")) - charge.amount
    for (name, rate), members in groups.items():
        # every charge of the group, discounted or not (a line discounted to nothing too)
        for n, item in enumerate(pending):
            c = item.charge
            if item.doc.name == name and c.rate == rate and c.inclusive:
                members.append(n)
        undiscounted = sum((Fraction(lines[pending[n].position].amount) * Fraction(rate)
                            / (100 + Fraction(pending[n].inclusive_sum)) for n in members),
                           Fraction(0))
        with localcontext() as ctx:
            ctx.prec = 60
            mode = pending[members[0]].doc.spec.get("rounding", "half_up")
            total = quantize(Decimal(undiscounted.numerator) / Decimal(undiscounted.denominator),
                             currency, mode)
            left = total - sum((pending[n].charge.amount for n in members), ZERO)
            weights = [lines[pending[n].position].discount_total * rate
                       / (HUNDRED + pending[n].inclusive_sum) for n in members]
        for n, share in zip(members, allocate(left, weights, currency), strict=True):
            if lines[pending[n].position].discounts:
                shares[n] = share
    return shares


def apply_taxes(
    bundle: Bundle, order: Order, lines: list[PricedLine], scope: Any,
    trace: list[TraceEntry] | None,
) -> list[Violation]:
    """Tax every line (replacing `taxes` and `included_tax`) and trace every amount (unless
    `trace` is None).

    Returns the warnings of the tax stage (a reverse charge not applied, and why). A bundle
    without TaxRules computes no tax; otherwise the seller must have rules and one of them
    must cover the customer's destination (`unknown_seller`, `no_tax_rule`).
    """
    for line in lines:
        line.taxes = []
        line.included_tax = ZERO
        line.discount_included_tax = ZERO
    if not bundle.kind("TaxRule"):
        return []
    check_seller(bundle, order)
    candidates = candidate_rules(bundle, order)
    pending: list[_Pending] = []
    known: dict[str, _Facts] = {}
    if not lines or any(doc.spec.get("applies_to") for doc, _ in candidates):
        per_line = [rules_for_line(candidates, scope, line.order_line.index) for line in lines]
    else:  # no rule looks at the line: every line has the same rules
        per_line = [rules_for_line(candidates, scope, lines[0].order_line.index)] * len(lines)
    # lines usually share one list of rules (the same list object, see above): their facts
    # and inclusive rate sum are worked out once per list, keyed by its identity (every list
    # stays alive in `per_line` meanwhile)
    prepared: dict[int, _Active] = {}
    with localcontext() as ctx:
        ctx.prec = 50  # non-terminating quotients (x 20/120) keep far more digits than cents
        for position, (line, docs) in enumerate(zip(lines, per_line, strict=True)):
            active = prepared.get(id(docs))
            if active is None:
                active = prepared[id(docs)] = _active(docs, order, known)
            pending.extend(_line_charges(position, line, active))
    _round(pending, order.currency)
    money = formatter(order.currency)
    for item in pending:
        line = lines[item.position]
        charge = item.charge
        if charge.inclusive:
            line.included_tax += charge.amount
        line.taxes.append(charge)
    count: dict[int, int] = {}
    how: dict[str, tuple[str, str]] = {}
    shares = _discount_tax(pending, lines, order.currency)
    for n, item in enumerate(pending):
        line = lines[item.position]
        charge = item.charge
        doc = item.doc
        # the taxable base is tax-exclusive: for inclusive prices, gross minus included tax
        charge.taxable = item.base - line.included_tax
        rounding = how.get(doc.name)
        if rounding is None:
            spec = doc.spec
            rounding = how[doc.name] = (str(spec.get("rounding", "half_up")),
                                        str(spec.get("rounding_level", "line")))
        share = shares.get(n) if shares else None
        if share is not None:
            line.discount_included_tax += share
        if trace is not None:
            k = count[item.position] = count.get(item.position, -1) + 1  # place in line.taxes
            _trace_charge(trace, item, line, k, rounding, share, money)
    return [f.warning for f in known.values() if f.warning is not None]


def _trace_charge(trace: list[TraceEntry], item: _Pending, line: PricedLine, k: int,
                  rounding: tuple[str, str], share: Decimal | None,
                  money: Callable[[Decimal], str]) -> None:
    """The trace entries of one charge: its amount and its taxable base."""
    charge = item.charge
    doc = item.doc
    base = money(item.base)
    inputs = {
        "base": base,
        "rate": str(charge.rate),
        "rule_rate": str(item.rule_rate),
        "inclusive": "true" if charge.inclusive else "false",
        "rounding": rounding[0],
        "rounding_level": rounding[1],
        "exact": str(item.exact),
        "exemption": charge.exemption,
        "reverse_charge": "true" if charge.reverse_charge else "false",
        "jurisdiction": charge.jurisdiction,
    }
    if charge.reason:
        inputs["reason"] = charge.reason
    if share is not None:
        inputs["discount_included_tax"] = money(share)
    path = f"lines[{item.position}].tax[{k}]"
    where = doc.where
    trace.append(trace_entry(f"{path}.amount", doc.name, where, charge.amount, inputs))
    trace.append(trace_entry(f"{path}.taxable", doc.name, where, charge.taxable,
                             {"base": base, "included_tax": money(line.included_tax)}))


def tax_summary(lines: list[PricedLine], currency: str) -> list[dict[str, Any]]:
    """Charges grouped by (rule, jurisdiction, rate, reverse charge, exemption), as invoice
    strings; an exempt, not-taxed or reverse-charged group carries the rule's reason text."""
    groups: dict[tuple[str, str, Decimal, bool, str], list[Any]] = {}
    for line in lines:
        for charge in line.taxes:
            key = (charge.rule, charge.jurisdiction, charge.rate, charge.reverse_charge,
                   charge.exemption)
            sums = groups.setdefault(key, [ZERO, ZERO, charge.reason])
            sums[0] += charge.taxable
            sums[1] += charge.amount
    return [
        {"rule": rule, "jurisdiction": where, "rate": str(rate),
         "taxable": fmt(sums[0], currency), "amount": fmt(sums[1], currency),
         "reverse_charge": reverse, "exemption": exemption, "reason": sums[2]}
        for (rule, where, rate, reverse, exemption), sums in sorted(groups.items(),
                                                                    key=lambda kv: kv[0])
    ]
