"""Impact pruning: from what changed between two bundles, which orders can be affected.

The predicate is plain data (picklable) and errs on the safe side: a change it does not
understand selects every order. Rules by kind:
- PolicyTest, Ownership: never affect an invoice.
- PriceBook: orders with a line whose sku's product entry changed (added, removed, edited;
  a book-level setting change selects every sku of that book).
- PricingRule: when the rule is coupon-gated on both sides, orders carrying either coupon;
  otherwise every order.
- TaxRule: orders whose customer country (or address country) is the rule's country, old or
  new, and, when only the rates changed, whose date falls where the rate differs. Reverse
  charge rules, a missing country or a group (`EU`, `*`) select every order, and so does a
  rule that changes which sellers have TaxRules (a seller's first or last rule: its orders
  to every country are then taxed, or refused, differently).
- RecognitionRule: orders with a sku whose product names the rule, or, when `applies_to` is
  `line.product_type == 'X'` on both sides, a product of that type (old or new catalogue);
  otherwise every order.
- anything else: every order.

The only dates read are order dates, also for orders replayed as of a later invoice date (the
store's issue date): tax rates follow the order date, and nothing selected by date here runs
from the invoice date (payment terms and windows are CreditPolicy edits: every order).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_TYPE_EQ = re.compile(r"""^\s*line\.product_type\s*==\s*['"]([a-z_]+)['"]\s*$""")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
FAR_PAST = "0000-01-01"
FAR_FUTURE = "9999-12-31"


@dataclass
class Predicate:
    """Which orders a change can affect: any of the listed criteria selects an order."""

    everything: bool = False
    skus: set[str] = field(default_factory=set)
    coupons: set[str] = field(default_factory=set)
    # (country, [(from, until), ...]) -- an empty range list means any date
    countries: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # names of changed documents
    inert: list[str] = field(default_factory=list)  # changed documents that price nothing

    @property
    def nothing(self) -> bool:
        return not (self.everything or self.skus or self.coupons or self.countries)

    def selects(self, order: dict[str, Any]) -> bool:
        """True when the order may be affected and must be replayed."""
        if self.everything:
            return True
        if self.skus and any(line.get("sku") in self.skus for line in order.get("lines", ())):
            return True
        if self.coupons and self.coupons.intersection(order.get("coupons", ())):
            return True
        if self.countries:
            customer = order.get("customer") or {}
            mine = {customer.get("country"), (customer.get("address") or {}).get("country")}
            date = order.get("date", "")
            for country, ranges in self.countries:
                if country in mine and (not ranges or any(a <= date < b for a, b in ranges)):
                    return True
        return False

    def describe(self) -> str:
        """One line for reports."""
        if self.everything:
            return "no pruning: " + "; ".join(r for r in self.reasons if r.startswith("all"))
        if self.nothing:
            return "no change can affect any invoice"
        return "; ".join(self.reasons)


_WHAT: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    return _WHAT.get(type(value), "null" if value is None else "a number")


def _fields(order: dict[str, Any]) -> Iterator[tuple[str, Any, type]]:
    """(path, value, expected type) of what `Predicate.selects` reads, outermost first (the
    consumer stops at the first mismatch, so inner fields are only read from the right type)."""
    yield "currency", order.get("currency"), str
    customer: Any = order.get("customer")
    yield "customer", customer, dict
    yield "customer.country", customer.get("country"), str
    address: Any = customer.get("address", {})
    yield "customer.address", address, dict
    yield "customer.address.country", address.get("country", ""), str
    coupons: Any = order.get("coupons", [])
    yield "coupons", coupons, list
    for i, coupon in enumerate(coupons):
        yield f"coupons[{i}]", coupon, str
    yield "attributes", order.get("attributes", {}), dict
    lines: Any = order.get("lines")
    yield "lines", lines, list
    for i, line in enumerate(lines):
        yield f"lines[{i}]", line, dict
        yield f"lines[{i}].sku", line.get("sku"), str


def shape_problem(order: dict[str, Any]) -> str | None:
    """What is wrong with the fields pruning reads (`field: expected ..., got ...`), or None.

    Checked before pruning, so that a record that is JSON but not an order is a bad record
    whether or not it would be pruned; the engine checks everything else when it evaluates.
    """
    date = order.get("date")
    if not isinstance(date, str) or not _DAY.match(date):
        got = repr(date[:20]) if isinstance(date, str) else _kind(date)
        return f"date: expected a date YYYY-MM-DD, got {got}"
    if _well_shaped(order):
        return None
    for path, value, kind in _fields(order):
        if not isinstance(value, kind):
            return f"{path}: expected {_WHAT[kind]}, got {_kind(value)}"
    return None


def _well_shaped(order: dict[str, Any]) -> bool:
    """What `_fields` checks, without writing a path: every replayed order is checked, and
    the paths are only needed for a problem."""
    customer = order.get("customer")
    if not (isinstance(order.get("currency"), str) and isinstance(customer, dict)
            and isinstance(customer.get("country"), str)):
        return False
    address = customer.get("address", {})
    coupons = order.get("coupons", [])
    lines = order.get("lines")
    if not (isinstance(address, dict) and isinstance(address.get("country", ""), str)
            and isinstance(coupons, list) and isinstance(order.get("attributes", {}), dict)
            and isinstance(lines, list)):
        return False
    return (all(isinstance(coupon, str) for coupon in coupons)
            and all(isinstance(line, dict) and isinstance(line.get("sku"), str)
                    for line in lines))


def impact(base: Any, head: Any) -> Predicate:
    """The predicate for the documents that differ between two bundles (`.docs`)."""
    pred = Predicate()
    names = sorted(set(base.docs) | set(head.docs))
    for name in names:
        old, new = base.docs.get(name), head.docs.get(name)
        if old is not None and new is not None and old.kind == new.kind and old.spec == new.spec:
            continue
        pred.changed.append(name)
        kinds = {d.kind for d in (old, new) if d is not None}
        if len(kinds) != 1:
            _all(pred, f"{name} changed kind")
            continue
        kind = kinds.pop()
        o = old.spec if old is not None else None
        n = new.spec if new is not None else None
        handler = _HANDLERS.get(kind)
        if handler is None:
            _all(pred, f"{kind} {name} changed")
        else:
            handler(pred, name, o, n, base, head)
    return pred


def _all(pred: Predicate, why: str) -> None:
    pred.everything = True
    pred.reasons.append(f"all orders: {why}")


def _ignore(pred: Predicate, name: str, *_: Any) -> None:
    pred.inert.append(name)
    pred.reasons.append(f"{name}: does not affect invoices")


def _pricebook(pred: Predicate, name: str, o: Any, n: Any, *_: Any) -> None:
    old_p = {p["sku"]: p for p in (o or {}).get("products", [])}
    new_p = {p["sku"]: p for p in (n or {}).get("products", [])}
    rest_o = {k: v for k, v in (o or {}).items() if k != "products"}
    rest_n = {k: v for k, v in (n or {}).items() if k != "products"}
    if o is None or n is None or rest_o != rest_n:
        skus = set(old_p) | set(new_p)
    else:
        skus = {s for s in set(old_p) | set(new_p) if old_p.get(s) != new_p.get(s)}
    pred.skus |= skus
    pred.reasons.append(f"{name}: orders with sku {', '.join(sorted(skus)) or '(none)'}")


def _pricing(pred: Predicate, name: str, o: Any, n: Any, *_: Any) -> None:
    sides = [s for s in (o, n) if s is not None]
    if all(s.get("coupon") for s in sides):
        coupons = {str(s["coupon"]) for s in sides}
        pred.coupons |= coupons
        pred.reasons.append(f"{name}: orders carrying coupon {', '.join(sorted(coupons))}")
    else:
        _all(pred, f"pricing rule {name} is not coupon-gated")


def _rate_at(rates: list[dict[str, Any]], day: str) -> Any:
    for r in rates:
        eff = r.get("effective") or {}
        if str(eff.get("from") or FAR_PAST) <= day < str(eff.get("until") or FAR_FUTURE):
            return r.get("rate")
    return None


def _rate_ranges(rates: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(str((r.get("effective") or {}).get("from") or FAR_PAST),
             str((r.get("effective") or {}).get("until") or FAR_FUTURE)) for r in rates]


def _changed_dates(o: list[dict[str, Any]], n: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Date ranges where the rate of `o` and of `n` differ (boundaries from both lists)."""
    bounds = sorted({b for a, z in _rate_ranges(o) + _rate_ranges(n) for b in (a, z)}
                    | {FAR_PAST, FAR_FUTURE})
    out: list[tuple[str, str]] = []
    for a, z in zip(bounds, bounds[1:], strict=False):
        if _rate_at(o, a) != _rate_at(n, a):
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], z)
            else:
                out.append((a, z))
    return out


def _sellers_taxed(bundle: Any) -> frozenset[str] | None:
    """The sellers that have TaxRules, or None when a rule names no seller (it taxes every
    seller's orders): whether a seller's orders have tax rules at all, or are refused as
    `unknown_seller`, in every country."""
    specs = [d.spec for d in bundle.docs.values() if d.kind == "TaxRule"]
    if any(not s.get("seller") for s in specs):
        return None
    return frozenset(str(s["seller"]) for s in specs)


def _tax(pred: Predicate, name: str, o: Any, n: Any, base: Any, head: Any) -> None:
    sides = [s for s in (o, n) if s is not None]
    if (o is None or n is None or o.get("seller") != n.get("seller")) and (
            _sellers_taxed(base) != _sellers_taxed(head)):
        # a seller that gains its first rule or loses its last one is taxed, or refused, in
        # every country, not only in the rule's
        _all(pred, f"tax rule {name} changes which sellers have tax rules")
        return
    countries = {str((s.get("jurisdiction") or {}).get("country", "")) for s in sides}
    # `EU` (any member state) and `*` are groups, not one customer country
    if any(s.get("reverse_charge") for s in sides) or not all(
            re.fullmatch(r"[A-Z]{2}", c) and c != "EU" for c in countries):
        _all(pred, f"tax rule {name} has reverse charge or no plain country")
        return
    ranges: list[tuple[str, str]] = []
    if o is not None and n is not None:
        rest_o = {k: v for k, v in o.items() if k != "rates"}
        rest_n = {k: v for k, v in n.items() if k != "rates"}
        if rest_o == rest_n:
            ranges = _changed_dates(list(o.get("rates", [])), list(n.get("rates", [])))
            if not ranges:
                pred.reasons.append(f"{name}: rates reordered, no date changes rate")
                return
    for c in sorted(countries):
        pred.countries.append((c, ranges))
    when = ", ".join(f"{a}..{b}" for a, b in ranges) if ranges else "any date"
    pred.reasons.append(f"{name}: customers in {', '.join(sorted(countries))} ({when})")


def _recognition(pred: Predicate, name: str, o: Any, n: Any, base: Any, head: Any) -> None:
    catalogue = [p for b in (base, head) for p in getattr(b, "products", {}).values()]
    if not catalogue:
        catalogue = [p for b in (base, head) for d in b.docs.values() if d.kind == "PriceBook"
                     for p in d.spec.get("products", [])]
    skus = {str(p["sku"]) for p in catalogue if p.get("recognition") == name
            or any(c.get("recognition") == name for c in p.get("components", []))}
    types = set()
    for s in (o, n):
        if s is None:
            continue
        match = _TYPE_EQ.match(str(s.get("applies_to", "")))
        if not match:
            _all(pred, f"recognition rule {name} applies_to is not a product-type test")
            return
        types.add(match.group(1))
    skus |= {str(p["sku"]) for p in catalogue if p.get("type") in types}
    pred.skus |= skus
    pred.reasons.append(f"{name}: orders with sku {', '.join(sorted(skus)) or '(none)'}")


_HANDLERS = {
    "PolicyTest": _ignore,
    "Ownership": _ignore,
    "PriceBook": _pricebook,
    "PricingRule": _pricing,
    "TaxRule": _tax,
    "RecognitionRule": _recognition,
}
