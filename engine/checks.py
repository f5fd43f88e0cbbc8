"""Semantic checks that JSON Schema cannot express: dates, overlaps, references, tiers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.ambiguity import ambiguous_rules
from engine.errors import Diagnostic, Location, shown
from engine.expect import parse_path
from engine.seller_checks import seller_findings
from engine.series import format_problems
from engine.yamldoc import location_of

_OPEN_START = dt.date.min
_OPEN_END = dt.date.max


@dataclass(frozen=True)
class SourceDoc:
    """A schema-valid policy document with its parsed (located) content."""

    path: str
    kind: str
    name: str
    raw: Any  # yamldoc.LocDict of the whole document

    def at(self, *steps: str | int) -> Location:
        """Location of the value at a path inside this document."""
        return location_of(self.raw, list(steps)) or Location(self.path)


@dataclass(frozen=True)
class _Range:
    start: dt.date
    end: dt.date
    where: Location


_HISTORY_FIELDS = frozenset({"tax", "seller", "jurisdiction", "applies_to", "rates"})
"""A TaxRule's fields that place it in a rate history and give its dates (see _tax_gaps)."""
_MALFORMED = (KeyError, IndexError, TypeError, AttributeError, ValueError, ArithmeticError)


def run_checks(docs: list[SourceDoc],
               broken: Sequence[tuple[SourceDoc, Collection[str]]] = ()) -> list[Diagnostic]:
    """Every semantic finding across the bundle (empty when all is well).

    `broken` are the documents the schema refused, with the spec fields it refused: what can
    still be checked safely is, so that one run shows as many mistakes as it can. Each is
    checked alone by the per-document checks (a check its malformed content trips is skipped
    for it); its name counts for references; a TaxRule whose rates and history fields are
    sound joins the gap check, and one whose are not leaves the histories of its tax
    unchecked for gaps (its rates may fill them). Other checks across documents see only
    the valid ones.
    """
    found: list[Diagnostic] = [*_references(docs, known=[doc for doc, _ in broken]),
                               *_tax_gaps(docs, broken)]
    for check in (_coupon_overlaps, _ownership, ambiguous_rules, seller_findings):
        found.extend(check(docs))
    for check in (_dates, _price_overlaps, _tiers, _tax_overlaps, _series, _milestones, _tests):
        found.extend(check(docs))
        for doc, _ in broken:  # each alone: one refused document trips none of the others
            with suppress(*_MALFORMED):  # the schema findings say what is wrong with it
                found.extend(list(check([doc])))
    return found


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _range(doc: SourceDoc, effective: Any, *steps: str | int) -> _Range | None:
    """The dates of an entry; None when one is not a date (invalid_date says so) or the range
    is empty (empty_effective_range says so: it overlaps nothing)."""
    effective = effective or {}
    start = _date(effective.get("from")) if "from" in effective else _OPEN_START
    end = _date(effective.get("until")) if "until" in effective else _OPEN_END
    if start is None or end is None or end <= start:
        return None
    return _Range(start, end, doc.at(*steps))


Steps = tuple[str | int, ...]


def _walk_effective(node: Any, steps: Steps) -> Iterator[tuple[Any, Steps]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "effective" and isinstance(value, dict):
                yield value, steps + (key,)
            else:
                yield from _walk_effective(value, steps + (key,))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk_effective(item, steps + (i,))


def _dates(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    for doc in docs:
        if doc.kind == "PolicyTest":
            continue  # test orders are validated when the tests run
        for effective, steps in _walk_effective(doc.raw.get("spec"), ("spec",)):
            for key in ("from", "until"):
                if key in effective and _date(effective[key]) is None:
                    yield Diagnostic("invalid_date",
                                     f"{shown(effective[key])} is not a calendar date",
                                     doc.at(*steps, key), doc.name)
            start, end = _date(effective.get("from")), _date(effective.get("until"))
            if start and end and end <= start:
                yield Diagnostic("empty_effective_range",
                                 f"until {end} is not after from {start} (until is exclusive)",
                                 doc.at(*steps, "until"), doc.name)


def _overlaps(ranges: list[_Range], what: str, doc_name: str) -> Iterator[Diagnostic]:
    """Report each range that starts before an earlier-starting one ends."""
    ordered = sorted(ranges, key=lambda r: (r.start, r.where))
    widest: _Range | None = None  # the range reaching furthest so far
    for rng in ordered:
        if widest is not None and rng.start < widest.end:
            first, second = sorted((widest.where, rng.where))
            yield Diagnostic(
                "overlapping_effective_dates",
                f"effective dates of {what} overlap the entry at {first}", second, doc_name)
        if widest is None or rng.end > widest.end:
            widest = rng


def _products(docs: list[SourceDoc]) -> Iterator[tuple[SourceDoc, int, dict[str, Any]]]:
    for doc in docs:
        if doc.kind == "PriceBook":
            for i, product in enumerate(doc.raw["spec"]["products"]):
                yield doc, i, product


def _price_overlaps(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    seen: dict[str, Location] = {}
    for doc, i, product in _products(docs):
        sku = product["sku"]
        where = doc.at("spec", "products", i, "sku")
        if sku in seen:
            yield Diagnostic("duplicate_sku", f"sku {sku} is already defined at {seen[sku]}",
                             where, doc.name)
            continue
        seen[sku] = where
        by_currency: dict[str, list[_Range]] = {}
        for j, price in enumerate(product["prices"]):
            rng = _range(doc, price.get("effective"), "spec", "products", i, "prices", j)
            if rng is not None:
                by_currency.setdefault(price["currency"], []).append(rng)
        for currency, ranges in sorted(by_currency.items()):
            yield from _overlaps(ranges, f"{sku} prices in {currency}", doc.name)


def _references(docs: list[SourceDoc], known: Sequence[SourceDoc] = ()) -> Iterator[Diagnostic]:
    """Products naming a RecognitionRule that does not exist (one the schema refused exists:
    its findings say what to fix)."""
    recognition = {d.name for d in [*docs, *known] if d.kind == "RecognitionRule"}
    for doc, i, product in _products(docs):
        refs: list[tuple[Any, tuple[str | int, ...]]] = [
            (product.get("recognition"), ("spec", "products", i, "recognition"))]
        for k, comp in enumerate(product.get("components") or []):
            refs.append((comp.get("recognition"),
                         ("spec", "products", i, "components", k, "recognition")))
        for ref, steps in refs:
            if ref is not None and ref not in recognition:
                yield Diagnostic("unknown_reference",
                                 f"no RecognitionRule named '{ref}' (sku {product['sku']})",
                                 doc.at(*steps), doc.name)


def _tiers(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    for doc, i, product in _products(docs):
        for j, price in enumerate(product["prices"]):
            tiers = price.get("tiers") or []
            previous = 0
            for k, tier in enumerate(tiers):
                up_to = tier.get("up_to")
                steps = ("spec", "products", i, "prices", j, "tiers", k)
                if up_to is None and k != len(tiers) - 1:
                    yield Diagnostic("invalid_tiers", "only the last tier may be open (up_to null)",
                                     doc.at(*steps), doc.name)
                elif up_to is not None and up_to <= previous:
                    yield Diagnostic("invalid_tiers",
                                     f"tier bounds must increase: up_to {up_to} after {previous}",
                                     doc.at(*steps, "up_to"), doc.name)
                previous = up_to if up_to is not None else previous
            if tiers and tiers[-1].get("up_to") is not None:
                last = ("spec", "products", i, "prices", j, "tiers", len(tiers) - 1)
                yield Diagnostic("invalid_tiers",
                                 "the last tier must be open (up_to null) so every quantity prices",
                                 doc.at(*last), doc.name)


def _tax_overlaps(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    for doc in docs:
        if doc.kind == "TaxRule":
            found = [_range(doc, rate.get("effective"), "spec", "rates", j)
                     for j, rate in enumerate(doc.raw["spec"].get("rates") or ())]
            ranges = [r for r in found if r is not None]
            yield from _overlaps(ranges, f"rates of {doc.name}", doc.name)


def _rate_ranges(doc: SourceDoc) -> list[_Range]:
    found = [_range(doc, rate.get("effective"), "spec", "rates", j)
             for j, rate in enumerate(doc.raw["spec"].get("rates") or ())]
    return sorted((r for r in found if r is not None), key=lambda r: (r.start, r.where))


def _tax_gaps(docs: list[SourceDoc],
              broken: Sequence[tuple[SourceDoc, Collection[str]]] = ()) -> Iterator[Diagnostic]:
    """Days between two rates that no rate covers: an order dated then would fail with
    no_tax_rate. Rules of the same tax, seller, jurisdiction and `applies_to` carry one rate
    history (split by era, or a temporary rate in its own rule): the gaps are those of the
    union of their rates, each named at the rate after it."""
    sound = [doc for doc, refused in broken if doc.kind == "TaxRule"
             and not _HISTORY_FIELDS & set(refused) and _rates_are_mappings(doc)]
    unsure = [doc.raw["spec"].get("tax") for doc, _ in broken
              if doc.kind == "TaxRule" and doc not in sound]
    histories: list[list[SourceDoc]] = []
    for doc in (d for d in [*docs, *sound] if d.kind == "TaxRule"):
        history = next((h for h in histories if _same_era(h[0], doc)), None)
        if history is None:
            histories.append([doc])
        else:
            history.append(doc)
    for history in histories:
        if any(tax is None or not isinstance(tax, str) or tax == history[0].raw["spec"].get("tax")
               for tax in unsure):
            continue  # a refused rule of this tax may carry rates that fill its gaps
        entries = sorted(((rng, doc) for doc in history for rng in _rate_ranges(doc)),
                         key=lambda e: (e[0].start, e[0].where))
        reach: tuple[_Range, SourceDoc] | None = None
        for rng, doc in entries:
            if reach is not None and reach[0].end < rng.start:
                before, owner = reach
                rules = doc.name if owner is doc else f"{owner.name} and {doc.name}"
                yield Diagnostic(
                    "gapped_effective_dates",
                    f"rates of {rules} leave a gap: no rate from {before.end} until "
                    f"{rng.start}, so an order dated then fails with no_tax_rate (end the "
                    f"entry at {before.where} on {rng.start}, or add a rate for the gap)",
                    rng.where, doc.name)
            if reach is None or rng.end > reach[0].end:
                reach = (rng, doc)


def _rates_are_mappings(doc: SourceDoc) -> bool:
    rates = doc.raw["spec"].get("rates") or []
    return isinstance(rates, list) and all(
        isinstance(r, dict) and isinstance(r.get("effective") or {}, dict) for r in rates)


def _same_era(a: SourceDoc, b: SourceDoc) -> bool:
    """Whether `a` and `b` carry one rate history (see _tax_gaps)."""
    first, second = a.raw["spec"], b.raw["spec"]
    return (first.get("tax") == second.get("tax") and first.get("seller") == second.get("seller")
            and first.get("jurisdiction") == second.get("jurisdiction")
            and " ".join(str(first.get("applies_to", "")).split())
            == " ".join(str(second.get("applies_to", "")).split()))


def _coupon_overlaps(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    by_coupon: dict[str, list[tuple[_Range, SourceDoc]]] = {}
    for doc in docs:
        if doc.kind == "PricingRule" and doc.raw["spec"].get("coupon"):
            rng = _range(doc, doc.raw["spec"].get("effective"), "spec", "coupon")
            if rng is not None:
                by_coupon.setdefault(doc.raw["spec"]["coupon"], []).append((rng, doc))
    for coupon, entries in sorted(by_coupon.items()):
        names = {r.where: d.name for r, d in entries}
        for diag in _overlaps([r for r, _ in entries], f"coupon {coupon} rules", ""):
            yield Diagnostic(diag.code, diag.message, diag.location, names[diag.location])


def _series(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    defaults: dict[str, Location] = {}
    for doc in docs:
        if doc.kind != "InvoiceSeries":
            continue
        spec = doc.raw["spec"]
        for problem in format_problems(spec["format"]):
            yield Diagnostic("invalid_format", problem, doc.at("spec", "format"), doc.name)
        if "when" not in spec:
            seller = spec["seller"]
            if seller in defaults:
                yield Diagnostic(
                    "duplicate_default_series",
                    f"seller {seller} already has a series without `when` at {defaults[seller]}",
                    doc.at("spec", "seller"), doc.name)
            else:
                defaults[seller] = doc.at("spec", "seller")


def _milestones(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    for doc in docs:
        if doc.kind != "RecognitionRule":
            continue
        spec = doc.raw["spec"]
        milestones = spec.get("milestones")
        if spec["method"] != "milestone":
            if milestones:
                yield Diagnostic("invalid_milestones", "milestones need method: milestone",
                                 doc.at("spec", "milestones"), doc.name)
            continue
        total = sum((Decimal(str(m["percent"])) for m in milestones or []), Decimal(0))
        if total != 100:
            yield Diagnostic("invalid_milestones", f"milestone percents add up to {total}, not 100",
                             doc.at("spec", "method" if milestones is None else "milestones"),
                             doc.name)


def _tests(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    for doc in docs:
        if doc.kind != "PolicyTest":
            continue
        for i, case in enumerate(doc.raw["spec"]["cases"]):
            if "as_of" in case and _date(case["as_of"]) is None:
                yield Diagnostic("invalid_date", f"{shown(case['as_of'])} is not a calendar date",
                                 doc.at("spec", "cases", i, "as_of"), doc.name)
            for path in case.get("expect") or {}:
                try:
                    parse_path(str(path))
                except ValueError as exc:
                    yield Diagnostic("invalid_test_case", f"expected path {shown(path)}: {exc}",
                                     doc.at("spec", "cases", i, "expect", path), doc.name)
            if "expect" in case and "expect_error" in case:
                yield Diagnostic("invalid_test_case", "a case has expect or expect_error, not both",
                                 doc.at("spec", "cases", i, "expect_error"), doc.name)
            elif "expect" in case and not case["expect"] and "expect_error" not in case:
                yield Diagnostic("invalid_test_case",
                                 "expect has no field: the case would assert nothing",
                                 doc.at("spec", "cases", i, "expect"), doc.name)
            elif "expect" not in case and "expect_error" not in case:
                yield Diagnostic("invalid_test_case",
                                 "a case needs expect or expect_error: it would assert nothing",
                                 doc.at("spec", "cases", i), doc.name)


def _ownership(docs: list[SourceDoc]) -> Iterator[Diagnostic]:
    # owner entries of several documents would be merged in name order, later ones winning:
    # who owns a path must not depend on what the documents are called
    found = [d for d in docs if d.kind == "Ownership"]
    for doc in found[1:]:
        first = found[0].at("metadata", "name")
        yield Diagnostic("duplicate_ownership",
                         f"a bundle has one Ownership document; the first is at {first}",
                         doc.at("metadata", "name"), doc.name)
