"""Replay aggregates: exact sums by currency, customer, product, jurisdiction and period.

An `Aggregate` is built per chunk (in any process) and merged; every figure is a sum or a
count, so merging in any order gives the same result. Only the N largest changes are kept.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sandbox.diff import ZERO, dec
from sandbox.facts import TOTALS

Key = tuple[str, str]  # (currency, dimension value)


def _add(target: dict[Any, Decimal], key: Any, amount: Decimal) -> None:
    if amount:
        target[key] = target.get(key, ZERO) + amount


@dataclass
class Aggregate:
    """Counts and money sums of a replay (or of a chunk of one)."""

    top_n: int = 100
    counts: Counter[str] = field(default_factory=Counter)
    # currency -> side ("base"/"head") -> totals field -> sum over that side's invoices
    totals: dict[str, dict[str, dict[str, Decimal]]] = field(default_factory=dict)
    by_customer: dict[Key, Decimal] = field(default_factory=dict)  # total change
    by_product: dict[Key, Decimal] = field(default_factory=dict)  # line net change
    by_jurisdiction: dict[Key, Decimal] = field(default_factory=dict)  # tax change
    tax_by_period: dict[Key, Decimal] = field(default_factory=dict)  # by order month
    total_by_period: dict[Key, Decimal] = field(default_factory=dict)
    revenue_by_period: dict[Key, Decimal] = field(default_factory=dict)  # recognised
    issued_tax_change: dict[str, Decimal] = field(default_factory=dict)  # |tax change|
    newly_failing: Counter[str] = field(default_factory=Counter)  # by violation/error code
    newly_passing: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)  # changed orders per causing rule
    issues: list[dict[str, Any]] = field(default_factory=list)  # first source problems
    # min-heap of (rank, order id, diff): the largest changes survive
    top: list[tuple[tuple[int, Decimal], str, dict[str, Any]]] = field(default_factory=list)

    def add_side(self, side: str, facts: dict[str, Any], sign: int) -> None:
        """Count one evaluated invoice's totals on one side."""
        if "error" in facts:
            self.counts[f"errors_{side}"] += 1
            return
        sums = self.totals.setdefault(facts["currency"], {}).setdefault(
            side, dict.fromkeys(TOTALS, ZERO))
        for k in TOTALS:
            sums[k] += sign * dec(facts["totals"][k])

    def add_issue(self, issue: dict[str, Any]) -> None:
        """A source record that was not an order (kept for the first 1,000)."""
        self.counts["issues"] += 1
        if len(self.issues) < 1000:
            self.issues.append(issue)

    def add_diff(self, d: dict[str, Any], base: dict[str, Any], head: dict[str, Any],
                 order: dict[str, Any]) -> None:
        """Fold one changed order into every breakdown."""
        cur, sign = d["currency"], d["sign"]
        self.counts["changed"] += 1
        if d["outcome"]:
            self.counts[d["outcome"]] += 1
        month = d["date"][:7]
        total = sign * dec(d.get("totals", {}).get("total", ["", "", "0"])[2])
        _add(self.by_customer, (cur, d["customer"]), total)
        _add(self.total_by_period, (cur, month), total)
        tax = _side_sum(head, "tax") - _side_sum(base, "tax")
        _add(self.tax_by_period, (cur, month), sign * tax)
        if tax and (order.get("attributes") or {}).get("issued_invoice"):
            self.issued_tax_change[cur] = self.issued_tax_change.get(cur, ZERO) + abs(tax)
        for facts, s in ((base, -sign), (head, sign)):
            if "error" in facts:
                continue
            for line in facts["lines"]:
                _add(self.by_product, (cur, line["sku"]), s * dec(line["net"]))
                for t in line["tax"]:
                    _add(self.by_jurisdiction, (cur, t[1] or "?"), s * dec(t[3]))
            for period, amounts in facts["recognition"].items():
                _add(self.revenue_by_period, (cur, period), s * sum(map(dec, amounts), ZERO))
        for code in _blocking(head) - _blocking(base):
            self.newly_failing[code] += 1
        for code in _blocking(base) - _blocking(head):
            self.newly_passing[code] += 1
        self.rules.update(d.get("rules", []))
        rank = (1 if d["outcome"] else 0, d["magnitude"])
        item = (rank, _desc(d["order"]), d)
        if len(self.top) < self.top_n:
            heapq.heappush(self.top, item)
        elif item[:2] > self.top[0][:2]:
            heapq.heapreplace(self.top, item)

    def merge(self, other: Aggregate) -> None:
        """Add another aggregate into this one."""
        self.counts.update(other.counts)
        for cur, sides in other.totals.items():
            for side, sums in sides.items():
                mine = self.totals.setdefault(cur, {}).setdefault(side, dict.fromkeys(TOTALS,
                                                                                      ZERO))
                for k, v in sums.items():
                    mine[k] += v
        for name in ("by_customer", "by_product", "by_jurisdiction", "tax_by_period",
                     "total_by_period", "revenue_by_period", "issued_tax_change"):
            mine_d, theirs = getattr(self, name), getattr(other, name)
            for key, value in theirs.items():
                _add(mine_d, key, value)
        self.newly_failing.update(other.newly_failing)
        self.newly_passing.update(other.newly_passing)
        self.rules.update(other.rules)
        self.issues.extend(other.issues[: max(0, 1000 - len(self.issues))])
        for item in other.top:
            if len(self.top) < self.top_n:
                heapq.heappush(self.top, item)
            elif item[:2] > self.top[0][:2]:
                heapq.heapreplace(self.top, item)

    def largest(self) -> list[dict[str, Any]]:
        """Kept changes, outcome changes first, then by size, then by order id."""
        return [d for _, _, d in sorted(self.top, key=lambda i: (i[0], i[1]), reverse=True)]


class _desc(str):  # noqa: N801 - a str whose order is reversed: equal sizes keep lower ids
    def __lt__(self, other: object) -> bool:
        return str.__gt__(self, str(other))

    def __gt__(self, other: object) -> bool:
        return str.__lt__(self, str(other))


def _side_sum(facts: dict[str, Any], key: str) -> Decimal:
    return ZERO if "error" in facts else dec(facts["totals"][key])


def _blocking(facts: dict[str, Any]) -> set[str]:
    if "error" in facts:
        return {str(facts["error"])}
    return {v[1] for v in facts["violations"] if v[0] == "error"}
