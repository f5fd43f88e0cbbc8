"""Replay aggregates: exact sums and counts by currency, customer, product, jurisdiction, period.

An `Aggregate` is built per chunk (in any process) and merged; every figure is a sum or a
count, so merging in any order gives the same result. Only the N largest changes are kept.

Money sums cover the orders that evaluate under both revisions. An order that evaluates under
one revision only is not a money change (it cannot be invoiced under the other): it is counted
apart, by error code, with the total of the side that evaluates.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox.diff import ZERO, dec, diff_order, sign_of
from sandbox.facts import TOTALS

# (table, currency, key, measure), e.g. ("product", "GBP", "WIDGET", "tax")
SumKey = tuple[str, str, str, str]
MEASURES = ("net", "tax", "total")


def _add(target: dict[SumKey, Decimal], key: SumKey, amount: Decimal) -> None:
    if amount:
        target[key] = target.get(key, ZERO) + amount


class _Ranked:
    """A kept change, ordered by its rank key alone (the diff itself is never compared)."""

    __slots__ = ("key", "diff")

    def __init__(self, key: tuple[Any, ...], diff: dict[str, Any]) -> None:
        self.key = key
        self.diff = diff

    def __lt__(self, other: _Ranked) -> bool:
        return self.key < other.key


class _Desc(str):
    """A str whose order is reversed: among equal sizes the lower order id ranks first."""

    __slots__ = ()

    def __lt__(self, other: object) -> bool:
        return str.__gt__(self, str(other))

    def __gt__(self, other: object) -> bool:
        return str.__lt__(self, str(other))


@dataclass
class Aggregate:
    """Counts and money sums of a replay (or of a chunk of one)."""

    top_n: int = 100
    counts: Counter[str] = field(default_factory=Counter)
    sums: dict[SumKey, Decimal] = field(default_factory=dict)
    # (table, ...) -> orders: error codes and currencies of one-sided outcomes, validations,
    # changed fields, causing rules, skipped orders by currency
    tallies: Counter[tuple[str, ...]] = field(default_factory=Counter)
    issues: list[dict[str, Any]] = field(default_factory=list)  # first source problems
    top: list[_Ranked] = field(default_factory=list)  # min-heap: the largest changes survive

    def add_issue(self, issue: dict[str, Any]) -> None:
        """A source record that was not an order (kept for the first 1,000)."""
        self.counts["issues"] += 1
        if len(self.issues) < 1000:
            self.issues.append(issue)

    def add_skipped(self, order: dict[str, Any]) -> None:
        """An order impact pruning left out (it cannot change)."""
        self.counts["skipped"] += 1
        self.tallies[("skipped", str(order.get("currency", "")))] += 1
        self._original(order)

    def _original(self, order: dict[str, Any]) -> None:
        """Count a credit note by what its source says of the sale it cancels
        (`attributes.original`: the Online Retail import links them where it can)."""
        attributes = order.get("attributes")
        if sign_of(order) < 0 and isinstance(attributes, dict) and "original" in attributes:
            self.tallies[("original", str(attributes["original"]))] += 1

    def add_order(self, order: dict[str, Any], base: dict[str, Any], head: dict[str, Any],
                  changed_rules: frozenset[str] = frozenset(), record: int = 0,
                  as_of: str | None = None) -> None:
        """Account for one order evaluated under both revisions as of the invoice date `as_of`
        (None: the order's own date)."""
        self.counts["evaluated"] += 1
        self._original(order)
        sign = sign_of(order)
        b_err, h_err = "error" in base, "error" in head
        if not b_err and not h_err:
            self._totals(base["doc"], head["doc"], sign)
        elif b_err and h_err:
            if base["error"] == head["error"]:
                self.counts["errors_both"] += 1
                self.tallies[("errors_both", "code", str(base["error"]))] += 1
            else:
                self.tallies[("error_changed", f"{base['error']} → {head['error']}")] += 1
        else:
            table = "no_longer_evaluates" if h_err else "now_evaluates"
            side, error = (base, head) if h_err else (head, base)
            cur = str(side["doc"].get("currency", ""))
            self.tallies[(table, "code", str(error["error"]))] += 1
            self.tallies[(table, "currency", cur)] += 1
            _add(self.sums, (table, cur, "", "total"),
                 sign * dec((side["doc"].get("totals") or {}).get("total")))
        d = diff_order(order, base, head, changed_rules, record, as_of)
        if d is not None:
            self._add_diff(d, base, head, order)

    def add_base_only(self, order: dict[str, Any], base: dict[str, Any]) -> None:
        """A pruned order evaluated under the base revision only, for whole-history totals
        (it cannot change, so its head outcome is its base outcome)."""
        self.counts["evaluated_base_only"] += 1
        if "error" in base:
            self.counts["errors_both"] += 1
            self.tallies[("errors_both", "code", str(base["error"]))] += 1
        else:
            self._totals(base["doc"], base["doc"], sign_of(order))

    def _totals(self, base: dict[str, Any], head: dict[str, Any], sign: int) -> None:
        cur = str(base.get("currency", ""))
        self.tallies[("orders", cur)] += 1
        sums = self.sums
        if base is head:  # one document for both sides (`Outcomes.both`): read it once
            totals = base.get("totals") or {}
            for k in TOTALS:
                amount = sign * dec(totals.get(k))
                _add(sums, ("totals", cur, "base", k), amount)
                _add(sums, ("totals", cur, "head", k), amount)
            return
        for side, doc in (("base", base), ("head", head)):
            totals = doc.get("totals") or {}
            for k in TOTALS:
                _add(sums, ("totals", cur, side, k), sign * dec(totals.get(k)))

    def _add_diff(self, d: dict[str, Any], base: dict[str, Any], head: dict[str, Any],
                  order: dict[str, Any]) -> None:
        """Fold one changed order into every breakdown."""
        self.counts["changed"] += 1
        if d["sign"] < 0:
            self.counts["changed_credit_notes"] += 1
        if d["outcome"]:
            self.counts[d["outcome"]] += 1
        self.tallies.update(("field", f) for f in d.get("changed", ()))
        self.tallies.update(("rule", r) for r in d.get("rules", ()))
        self._keep(d)
        if "error" in base or "error" in head:
            return
        cur, sign = d["currency"], d["sign"]
        _add(self.sums, ("customer", cur, d["customer"], "total"), dec(d["total_change"]))
        # a document counts in the month it is issued in: a credit note linked to an earlier
        # sale is taxed at the sale's date, and is still January's if issued in January
        month = d["invoice_date"][:7]
        for doc, s in ((base["doc"], -sign), (head["doc"], sign)):
            customer = doc.get("customer") or {}
            home = "-".join(p for p in (str(customer.get("country", "")),
                                        str(customer.get("region", ""))) if p) or "?"
            for line in doc.get("lines", ()):
                taxes = line.get("tax") or []
                place = str(taxes[0].get("jurisdiction") or home) if taxes else home
                amounts = {"net": s * dec(line.get("net")), "tax": s * dec(line.get("tax_total")),
                           "total": s * dec(line.get("total"))}
                sku = str(line.get("sku", ""))
                for m, amount in amounts.items():
                    _add(self.sums, ("product", cur, sku, m), amount)
                    _add(self.sums, ("month", cur, month, m), amount)
                    if m != "tax":
                        _add(self.sums, ("jurisdiction", cur, place, m), amount)
                for t in taxes:
                    _add(self.sums, ("jurisdiction", cur, str(t.get("jurisdiction") or "?"),
                                     "tax"), s * dec(t.get("amount")))
            for entry in (doc.get("recognition") or {}).get("schedule", ()):
                _add(self.sums, ("revenue", cur, str(entry.get("period", "")), "revenue"),
                     s * dec(entry.get("amount")))
        tax = dec(d["tax_change"])
        attributes = order.get("attributes")
        if tax:
            # only the store's orders say whether their invoice was issued (its number)
            if not isinstance(attributes, dict) or "issued_invoice" not in attributes:
                self.counts["tax_changed_issue_unknown"] += 1
            elif attributes["issued_invoice"]:
                _add(self.sums, ("issued_tax", cur, "", "tax"), abs(tax))
        for change, key in (("added", "raised"), ("removed", "cleared")):
            for severity, code, _rule in (d.get("violations") or {}).get(change, ()):
                self.tallies[("validation", severity, code, key)] += 1

    def _keep(self, d: dict[str, Any]) -> None:
        rank = (1 if d["outcome"] else 0, d["magnitude"], d["spread"], _Desc(d["order"]),
                -int(d.get("record", 0)))
        self._push(_Ranked(rank, d))

    def _push(self, item: _Ranked) -> None:
        if len(self.top) < self.top_n:
            heapq.heappush(self.top, item)
        elif self.top and self.top[0] < item:
            heapq.heapreplace(self.top, item)

    def merge(self, other: Aggregate) -> None:
        """Add another aggregate into this one."""
        self.counts.update(other.counts)
        for key, value in other.sums.items():
            _add(self.sums, key, value)
        self.tallies.update(other.tallies)
        self.issues.extend(other.issues[: max(0, 1000 - len(self.issues))])
        for item in other.top:
            self._push(item)

    def largest(self) -> list[dict[str, Any]]:
        """Kept changes: outcome changes first, then by size, then by order id."""
        return [i.diff for i in sorted(self.top, key=lambda i: i.key, reverse=True)]

    def table(self, name: str) -> dict[tuple[str, str], dict[str, Decimal]]:
        """`(currency, key) -> measure -> sum` of one breakdown, zero sums left out."""
        out: dict[tuple[str, str], dict[str, Decimal]] = {}
        for (table, cur, key, measure), value in self.sums.items():
            if table == name and value:
                out.setdefault((cur, key), {})[measure] = value
        return out
