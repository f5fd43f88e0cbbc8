"""Rules the engine would choose between by name alone: ambiguous, so check refuses them.

The first-match kinds are scanned in bundle order, (priority, name). Two rules that can match
the same order with the same priority leave the choice to their names, which nobody reads as
policy. What counts as "can match the same order" follows the engine's own selection:
- TaxRule (engine.tax_match): the same kind of tax, sellers that can be the same (absent
  matches every seller), jurisdictions that match one destination at the same level of
  specificity (country < region < postcode), the same `applies_to` (or none), and rates in
  effect on a common day, at the same priority (a rule split into eras, one rule per period of
  rates, is not ambiguous: the engine takes the one with a rate on the order's date).
- CreditPolicy, RecognitionRule: the same priority and the same condition (or none).
- InvoiceSeries: the same seller and priority and the same `when`; two series without `when`
  for one seller are `duplicate_default_series` already.
Rules whose conditions differ are left alone: whether two CEL conditions can both hold is not
decided here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from engine.errors import Diagnostic
from engine.tax_match import region_codes

_CONDITION = {"CreditPolicy": "when", "RecognitionRule": "applies_to", "InvoiceSeries": "when"}


def ambiguous_rules(docs: list[Any]) -> Iterator[Diagnostic]:
    """One `ambiguous_rules` error at each of two rules the engine would pick between by name."""
    # only rules that share a key can tie: compare within groups, not every pair of a bundle
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for doc in docs:
        spec = doc.raw["spec"]
        if doc.kind == "TaxRule":
            key: tuple[Any, ...] = (doc.kind, spec.get("tax", "vat"), spec.get("priority", 100),
                                    (spec.get("jurisdiction") or {}).get("country"))
        elif doc.kind in _CONDITION:
            key = (doc.kind, spec.get("priority", 100), _text(spec.get(_CONDITION[doc.kind])))
        else:
            continue
        groups.setdefault(key, []).append(doc)
    for (kind, *_), rules in groups.items():
        for i, first in enumerate(rules):
            for second in rules[i + 1:]:
                if kind == "TaxRule":
                    why = _taxes_tie(first.raw["spec"], second.raw["spec"])
                    steps: tuple[str, ...] = ("spec", "jurisdiction")
                else:
                    field = _CONDITION[kind]
                    why = _conditions_tie(kind, field, first.raw["spec"], second.raw["spec"])
                    steps = ("spec", field)
                if why:
                    yield from _both(first, second, *steps, why=why)


def _both(first: Any, second: Any, *steps: str, why: str) -> Iterator[Diagnostic]:
    if first.name == second.name:
        return  # duplicate_rule already
    ordered = sorted((first, second), key=lambda d: d.name)  # the engine's tie-break
    for doc, other in ((first, second), (second, first)):
        here = doc.at(*steps) if _has(doc, steps) else doc.at("metadata", "name")
        there = other.at(*steps) if _has(other, steps) else other.at("metadata", "name")
        yield Diagnostic(
            "ambiguous_rules",
            f"{doc.kind} {doc.name} and {other.name} (at {there}) {why}: the engine would "
            f"apply {ordered[0].name} only because of its name; tell them apart or merge them",
            here, doc.name)


def _has(doc: Any, steps: tuple[str, ...]) -> bool:
    node = doc.raw
    for step in steps:
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    return True


def _text(value: Any) -> str:
    return " ".join(str(value or "").split())


def _same_text(a: Any, b: Any) -> bool:
    return _text(a) == _text(b)


def _conditions_tie(kind: str, field: str, a: dict[str, Any], b: dict[str, Any]) -> str:
    if a.get("priority", 100) != b.get("priority", 100):
        return ""
    if not _same_text(a.get(field), b.get(field)):
        return ""
    if kind == "InvoiceSeries" and (a.get("seller") != b.get("seller") or not a.get("when")):
        return ""  # two defaults of a seller: duplicate_default_series
    condition = f"the same {field}" if a.get(field) else f"no {field}"
    return f"have the same priority ({a.get('priority', 100)}) and {condition}"


def _taxes_tie(a: dict[str, Any], b: dict[str, Any]) -> str:
    if a.get("tax", "vat") != b.get("tax", "vat"):
        return ""
    if a.get("seller") and b.get("seller") and a["seller"] != b["seller"]:
        return ""
    if not _same_text(a.get("applies_to"), b.get("applies_to")):
        return ""
    place = _same_destination(a.get("jurisdiction") or {}, b.get("jurisdiction") or {})
    if not place:
        return ""
    day = _common_day(a.get("rates") or [], b.get("rates") or [])
    if day is None:
        return ""
    when = "at the same dates" if day == dt.date.min else f"on {day.isoformat()}"
    return (f"both tax {place} ({a.get('tax', 'vat')}) at the same level, with rates in "
            f"effect {when}")


def _level(jurisdiction: dict[str, Any]) -> int:
    if (jurisdiction.get("postcodes") or {}).get("include"):
        return 3
    return 2 if region_codes(jurisdiction) else 1


def _same_destination(a: dict[str, Any], b: dict[str, Any]) -> str:
    """A destination both match at the same level (as text), or '' when there is none."""
    if a.get("country") != b.get("country") or _level(a) != _level(b):
        return ""
    regions_a, regions_b = set(region_codes(a)), set(region_codes(b))
    common = sorted(regions_a & regions_b) if regions_a and regions_b else sorted(
        regions_a | regions_b)
    if regions_a and regions_b and not common:
        return ""
    place = str(a.get("country"))
    if common:
        place += f"-{common[0]}"
    if _level(a) < 3:
        return place
    codes_a, codes_b = ((j.get("postcodes") or {}) for j in (a, b))
    common = [p for p in codes_a.get("include", ()) for q in codes_b.get("include", ())
              if _globs_meet(str(p), str(q))
              and not _excluded(str(p), codes_b) and not _excluded(str(q), codes_a)]
    return f"{place} postcodes {common[0]}" if common else ""


def _prefix(pattern: str) -> tuple[str, bool]:
    """The literal start of a glob, and whether that is all of it."""
    for i, char in enumerate(pattern):
        if char in "*?[":
            return pattern[:i].upper(), False
    return pattern.upper(), True


def _globs_meet(p: str, q: str) -> bool:
    """Whether two postcode globs can match one postcode (judged by their literal starts)."""
    (pp, p_exact), (qp, q_exact) = _prefix(p), _prefix(q)
    if p_exact and q_exact:
        return pp == qp
    if p_exact:
        return pp.startswith(qp)
    if q_exact:
        return qp.startswith(pp)
    return pp.startswith(qp) or qp.startswith(pp)


def _excluded(pattern: str, codes: dict[str, Any]) -> bool:
    """Whether every postcode `pattern` matches is excluded by an `prefix*` exclusion."""
    start, _ = _prefix(pattern)
    for excluded in codes.get("exclude", ()):
        prefix, exact = _prefix(str(excluded))
        if not exact and str(excluded).endswith("*") and str(excluded)[:-1].upper() == prefix \
                and start.startswith(prefix):
            return True
    return False


def _spans(rates: list[Any]) -> Iterator[tuple[dt.date, dt.date]]:
    for rate in rates:
        effective = rate.get("effective") or {}
        try:
            start = dt.date.fromisoformat(str(effective["from"])) if "from" in effective \
                else dt.date.min
            end = dt.date.fromisoformat(str(effective["until"])) if "until" in effective \
                else dt.date.max
        except ValueError:
            continue  # reported as invalid_date
        if start < end:
            yield start, end


def _common_day(a: list[Any], b: list[Any]) -> dt.date | None:
    """The first day on which both rules have a rate in effect, if any."""
    days = [max(sa, sb) for sa, ea in _spans(a) for sb, eb in _spans(b)
            if max(sa, sb) < min(ea, eb)]
    return min(days) if days else None

