"""The recognition stage: per-line revenue schedules by month and their journal entries.

Method per line: the product's `recognition:` rule, else the first RecognitionRule (priority,
then name) whose `applies_to` holds, else point in time at the order date. Lines of one order
bundle (`attributes.bundle`) first share the bundle's net by standalone selling price
(`engine.allocation`). A product with `components` splits the line's net (or allocation) over
its obligations by standalone selling price in the order currency; each obligation uses its
own rule. Every split is exact: shares are computed as fractions and rounded by largest
remainder (ties to the earlier part), so each line's schedule sums to its net, or to its
allocation when bundled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from engine.allocation import Weight, allocate_bundles, allocate_exact, split_units
from engine.bundle import Bundle, PolicyDoc
from engine.errors import Location, fail
from engine.journal import journal_entries
from engine.model import DEFAULT, Order, PricedLine, TraceEntry
from engine.money import exponent, formatter, minor_text
from engine.pricing.proration import add_months

POINT_IN_TIME = "point_in_time"
Weights = list[tuple[str, Weight]]
_INDEX_KEY = "recognition.rules"
_ORDER_KEY = "recognition.ordered"


@lru_cache(maxsize=8192)
def month_of(day: dt.date) -> str:
    """`YYYY-MM` of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def _months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date, int]]:
    """Calendar months overlapping [start, end): (overlap start, overlap end, month days)."""
    out = []
    year, month = start.year, start.month
    first = dt.date(year, month, 1)
    while first < end:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        if year > dt.MAXYEAR:  # December 9999 has no following month (evaluation locates it)
            raise OverflowError("date value out of range")
        following = dt.date(year, month, 1)
        out.append((max(first, start), min(following, end), (following - first).days))
        first = following
    return out


_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _month_length(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS[month - 1]


@lru_cache(maxsize=4096)
def _month_label(index: int) -> str:
    """`YYYY-MM` of a month counted from year 0 (year * 12 + month - 1)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _month_days(start: dt.date, end: dt.date) -> Weights:
    """(`YYYY-MM`, days of [start, end) in that month) for each month the range touches."""
    out: Weights = []
    index = start.year * 12 + start.month - 1
    day = start.toordinal()
    last = end.toordinal()
    following = day - start.day + 1  # the first of the start's month, as an ordinal
    while day < last:
        following += _month_length(index // 12, index % 12 + 1)
        out.append((_month_label(index), (following if following < last else last) - day))
        day = following
        index += 1
    return out


def _weight(value: Any) -> Weight:
    """An exact weight: an int when whole (cheap to split), else a Fraction."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if number == number.to_integral_value():
        return int(number)
    return Fraction(str(number))


def _period(line: PricedLine, method: str) -> tuple[dt.date, dt.date]:
    period = line.order_line.period
    if period is None:
        raise fail("missing_service_period",
                   f"recognition method {method} needs the line's service period",
                   Location(f"order.lines[{line.order_line.index}].period"))
    return period.start, period.end


def _ratable_daily(line: PricedLine, order: Order, doc: PolicyDoc | None) -> Weights:
    start, end = _period(line, "ratable_daily")
    return _month_days(start, end)


def _ratable_monthly(line: PricedLine, order: Order, doc: PolicyDoc | None) -> Weights:
    start, end = _period(line, "ratable_monthly")
    count = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, count) > end:
        count -= 1
    if add_months(start, count) < end:
        count += 1  # a part month counts as a month
    first = start.year * 12 + start.month - 1
    return [(_month_label(first + k), 1) for k in range(count)]


def month_equivalents(start: dt.date, end: dt.date) -> Fraction:
    """Months in [start, end): whole anniversary months (start + k months, clamped to the
    month's end) plus the days left as a fraction of the next anniversary month's days."""
    whole = (end.year - start.year) * 12 + end.month - start.month
    if add_months(start, whole) > end:
        whole -= 1
    last, following = add_months(start, whole), add_months(start, whole + 1)
    return whole + Fraction((end - last).days, (following - last).days)


def _ratable_prorated(line: PricedLine, order: Order, doc: PolicyDoc | None) -> Weights:
    start, end = _period(line, "ratable_monthly_prorated")
    months = _months(start, end)
    full = sum(1 for a, b, days in months if (b - a).days == days)
    part_days = sum((b - a).days for a, b, days in months if (b - a).days != days)
    # a calendar month inside the period is one month; the partial first and last months
    # share what is left of the period's month-equivalents in proportion to their days
    left = month_equivalents(start, end) - full
    return [(month_of(a), 1 if (b - a).days == days else left * (b - a).days / part_days)
            for a, b, days in months]


def _milestone(line: PricedLine, order: Order, doc: PolicyDoc | None) -> Weights:
    dates = dict(line.order_line.milestones)
    steps = (doc.spec.get("milestones") if doc else None) or []
    missing = [str(m["name"]) for m in steps if m["name"] not in dates]
    if missing or not steps:
        raise fail("missing_milestone",
                   f"line needs the date of milestone(s) {', '.join(missing) or '(none declared)'}"
                   f" for rule {doc.name if doc else ''}",
                   Location(f"order.lines[{line.order_line.index}].milestones"),
                   doc.name if doc else "")
    return [(month_of(dates[m["name"]]), _weight(m["percent"])) for m in steps]


def _usage(line: PricedLine, order: Order, doc: PolicyDoc | None) -> Weights:
    usage = line.order_line.usage
    if not usage:
        # no usage detail on the order: the usage was consumed by the invoice date
        return [(month_of(order.date), 1)]
    return [(period, _weight(quantity)) for period, quantity in usage]


def _point(line: PricedLine, order: Order, doc: PolicyDoc | None) -> Weights:
    return [(month_of(order.date), 1)]


METHODS: dict[str, Callable[[PricedLine, Order, PolicyDoc | None], Weights]] = {
    POINT_IN_TIME: _point,
    "ratable_daily": _ratable_daily,
    "ratable_monthly": _ratable_monthly,
    "ratable_monthly_prorated": _ratable_prorated,
    "milestone": _milestone,
    "usage": _usage,
}


def _rules(bundle: Bundle) -> dict[str, PolicyDoc]:
    """RecognitionRules by name, built once per bundle."""
    found = bundle.index.get(_INDEX_KEY)
    if found is None:
        found = {}
        for doc in bundle.kind("RecognitionRule"):
            found.setdefault(doc.name, doc)  # the first by (priority, name), as a scan finds
        bundle.index[_INDEX_KEY] = found
    return found


def rule_named(bundle: Bundle, name: str) -> PolicyDoc:
    """The RecognitionRule called `name`; `unknown_recognition_rule` when absent."""
    doc = _rules(bundle).get(name)
    if doc is None:
        raise fail("unknown_recognition_rule", f"no RecognitionRule named {name!r}", rule=name)
    return doc


def _by_condition(bundle: Bundle) -> list[tuple[PolicyDoc, bool]]:
    """The rules in (priority, name) order, each with whether it has an `applies_to`."""
    found = bundle.index.get(_ORDER_KEY)
    if found is None:
        found = bundle.index[_ORDER_KEY] = [
            (doc, bool(doc.spec.get("applies_to"))) for doc in bundle.kind("RecognitionRule")]
    return found


def recognition_rule(bundle: Bundle, line: PricedLine, scope: Callable[[], Any]
                     ) -> PolicyDoc | None:
    """The rule for a line: the product's named rule, else the first whose applies_to holds."""
    name = line.recognition_rule or (line.product or {}).get("recognition", "")
    if name:
        return rule_named(bundle, name)
    index = line.order_line.index
    for doc, conditional in _by_condition(bundle):
        if not conditional or scope().line_true(doc, "spec.applies_to", index):
            return doc
    return None


def _obligations(bundle: Bundle, order: Order, line: PricedLine, doc: PolicyDoc | None,
                 net: Decimal) -> list[tuple[str, PolicyDoc | None, Decimal]]:
    product = line.product
    components = product.get("components") if product else None
    if not components:
        return [("", doc, net)]
    weights = []
    for comp in components:
        ssp = comp.get("ssp") or {}
        if order.currency not in ssp:
            raise fail("missing_ssp",
                       f"component {comp['name']} of {line.order_line.sku} has no standalone"
                       f" selling price in {order.currency}",
                       Location(f"order.lines[{line.order_line.index}].sku"))
        weights.append(_weight(ssp[order.currency]))
    amounts = allocate_exact(net, weights, order.currency)
    return [(str(comp["name"]), rule_named(bundle, comp["recognition"])
             if comp.get("recognition") else doc, amount)
            for comp, amount in zip(components, amounts, strict=True)]


def recognise(bundle: Bundle, order: Order, lines: list[PricedLine], totals: dict[str, Decimal],
              trace: list[TraceEntry] | None, scope: Any = None) -> dict[str, Any]:
    """`{"schedule": [...], "journal": [...], "allocations": [...]}`; sets each line's
    recognition method. Traces every amount unless `trace` is None."""
    currency = order.currency
    e = exponent(currency)
    text = minor_text(e)
    money = formatter(currency)
    cached: list[Any] = [scope]

    def get_scope() -> Any:
        # orders whose rules all name their method never pay for a CEL scope
        if cached[0] is None:
            from engine.context import CelScope

            made = CelScope(bundle, order)
            made.set_line_amounts(lines, e)
            cached[0] = made
        return cached[0]

    schedule: list[dict[str, Any]] = []
    per_period: dict[str, int] = {}
    members: dict[str, dict[str, str]] = {}  # per period, the schedule amounts it sums
    tracing = trace is not None
    sink: list[TraceEntry] = trace if trace is not None else []
    append = sink.append
    allocated, allocations = allocate_bundles(lines, currency, sink)
    for position, line in enumerate(lines):
        doc = recognition_rule(bundle, line, get_scope)
        line.recognition = str(doc.spec["method"]) if doc else POINT_IN_TIME
        line.recognition_rule = doc.name if doc else ""
        index = line.order_line.index
        net = allocated.get(position, line.net) if allocated else line.net
        for obligation, odoc, amount in _obligations(bundle, order, line, doc, net):
            method = str(odoc.spec["method"]) if odoc else POINT_IN_TIME
            rule, where = (odoc.name, odoc.where) if odoc else (DEFAULT, "")
            shares = METHODS[method](line, order, odoc)
            if not tracing and len(shares) == 1 and shares[0][1]:
                # untraced, one period (point in time, usage of one month): the whole amount
                # makes the one row, without the lists and zip of the general case below
                period, part = shares[0][0], int(amount.scaleb(e))
                schedule.append({"line": index, "obligation": obligation,
                                 "period": period, "amount": text(part)})
                per_period[period] = per_period.get(period, 0) + part
                continue
            periods: list[str]
            weights: list[Weight]
            if len(shares) == 1 and shares[0][1]:
                # one period (point in time, usage of one month): the whole amount
                periods, weights = [shares[0][0]], [shares[0][1]]
                units = [int(amount.scaleb(e))]
            else:
                sums: dict[str, Weight] = {}
                for period, weight in shares:
                    sums[period] = sums[period] + weight if period in sums else weight
                periods = sorted(sums)
                weights = [sums[p] for p in periods]
                units = split_units(int(amount.scaleb(e)), weights)
            if tracing:
                whole = str(sum(weights))
                amount_text = money(amount)
            for period, weight, part in zip(periods, weights, units, strict=True):
                part_text = text(part)
                schedule.append({"line": index, "obligation": obligation,
                                 "period": period, "amount": part_text})
                if not tracing:
                    per_period[period] = per_period.get(period, 0) + part
                    continue
                path = f"recognition.schedule[{len(schedule) - 1}].amount"
                append({"path": path, "rule": rule, "where": where, "amount": part_text,
                        "inputs": {"method": method, "obligation_amount": amount_text,
                                   "weight": str(weight), "of": whole}})
                if period in per_period:
                    per_period[period] += part
                    members[period][path] = part_text
                else:
                    per_period[period] = part
                    members[period] = {path: part_text}
    journal = journal_entries(order, per_period, totals, trace, members)
    return {"schedule": schedule, "journal": journal, "allocations": allocations}
