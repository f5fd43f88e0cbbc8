"""Which TaxRule taxes a line: seller, destination jurisdiction, applies_to, dated rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.errors import fail
from engine.model import Order
from engine.vat import is_eu, is_valid_vat

# specificity of a jurisdiction match; the most specific matching rule wins
COUNTRY, REGION, POSTCODE = 1, 2, 3
_CANDIDATES_KEY = "tax.candidates"
_CANDIDATES_MAX = 4096


def in_effect(effective: dict[str, Any] | None, day: dt.date) -> bool:
    """True when `day` is inside `{from, until}` (from inclusive, until exclusive)."""
    if not effective:
        return True
    start, until = effective.get("from"), effective.get("until")
    if start and day < dt.date.fromisoformat(str(start)):
        return False
    return not (until and day >= dt.date.fromisoformat(str(until)))


def rate_on(doc: PolicyDoc, day: dt.date) -> Decimal:
    """The rule's rate in percent on `day`; `no_tax_rate` when none is in effect."""
    for entry in doc.spec.get("rates", ()):
        if in_effect(entry.get("effective"), day):
            return Decimal(str(entry["rate"]))
    raise fail(
        "no_tax_rate",
        f"tax rule {doc.name} matches this order but has no rate in effect on {day.isoformat()}",
        doc.location,
        doc.name,
    )


def _postcode(customer: dict[str, Any]) -> str:
    code = customer.get("postcode") or (customer.get("address") or {}).get("postcode") or ""
    return str(code).strip().upper()


def jurisdiction_level(jurisdiction: dict[str, Any], customer: dict[str, Any]) -> int:
    """How specifically the customer's (destination) address matches; 0 when it does not."""
    if jurisdiction.get("country") != customer.get("country"):
        return 0
    level = COUNTRY
    region = jurisdiction.get("region")
    if region:
        if str(customer.get("region") or "").upper() != str(region).upper():
            return 0
        level = REGION
    postcodes = jurisdiction.get("postcodes") or {}
    include = [str(p).upper() for p in postcodes.get("include", ())]
    exclude = [str(p).upper() for p in postcodes.get("exclude", ())]
    code = _postcode(customer)
    if include:
        if not any(fnmatchcase(code, pattern) for pattern in include):
            return 0
        level = POSTCODE
    if exclude and code and any(fnmatchcase(code, pattern) for pattern in exclude):
        return 0
    return level


def jurisdiction_label(doc: PolicyDoc) -> str:
    """`GB`, or `US-CA` when the rule names a region."""
    jurisdiction = doc.spec.get("jurisdiction") or {}
    region = jurisdiction.get("region")
    return f"{jurisdiction.get('country', '')}-{region}" if region else str(
        jurisdiction.get("country", ""))


def _applies(doc: PolicyDoc, scope: Any, line_index: int) -> bool:
    if not doc.spec.get("applies_to"):
        return True
    return bool(scope.line_true(doc, "spec.applies_to", line_index))


def candidate_rules(bundle: Bundle, order: Order) -> list[tuple[PolicyDoc, int]]:
    """Rules for this seller whose jurisdiction matches the customer, with their level."""
    customer = order.customer
    # everything jurisdiction_level reads; many orders share a destination
    key = (order.seller, customer.get("country"), str(customer.get("region") or "").upper(),
           _postcode(customer))
    cache = bundle.index.get(_CANDIDATES_KEY)
    if cache is None:
        cache = bundle.index[_CANDIDATES_KEY] = {}
    found = cache.get(key)
    if found is not None:
        return list(found)
    found = []
    for doc in bundle.kind("TaxRule"):
        seller = doc.spec.get("seller")
        if seller and seller != order.seller:
            continue
        level = jurisdiction_level(doc.spec.get("jurisdiction") or {}, customer)
        if level:
            found.append((doc, level))
    if len(cache) >= _CANDIDATES_MAX:
        cache.clear()  # bounded: a long replay of many postcodes must not grow it forever
    cache[key] = tuple(found)
    return found


def rules_for_line(
    candidates: list[tuple[PolicyDoc, int]], scope: Any, line_index: int
) -> list[PolicyDoc]:
    """The most specific applicable rule per kind of tax (vat, gst, sales_tax), in kind order.

    Ties at the same level go to the first rule in bundle order (priority, then name).
    """
    best: dict[str, tuple[int, PolicyDoc]] = {}
    for doc, level in candidates:
        kind = str(doc.spec.get("tax", "vat"))
        if kind in best and best[kind][0] >= level:
            continue
        if _applies(doc, scope, line_index):
            best[kind] = (level, doc)
    return [best[kind][1] for kind in sorted(best)]


def exemption_for(doc: PolicyDoc, customer: dict[str, Any]) -> str:
    """First exemption code the rule declares that the customer holds, else `''`."""
    held = {str(code) for code in customer.get("exemptions") or ()}
    for entry in doc.spec.get("exemptions") or ():
        if entry.get("code") in held:
            return str(entry["code"])
    return ""


def reverse_charge_applies(doc: PolicyDoc, order: Order) -> bool:
    """EU B2B reverse charge: the rule opts in, the customer is a business in an EU member
    state other than the seller's, with a VAT number that passes the checksum.

    The seller's country comes from `order.attributes["seller_country"]` when given (orders
    from a seller in the customer's own country are domestic: no reverse charge).
    """
    if doc.spec.get("reverse_charge") != "eu":
        return False
    customer = order.customer
    country = str(customer.get("country") or "")
    if customer.get("type") != "business" or not is_eu(country):
        return False
    if order.attributes.get("seller_country", "").upper() == country:
        return False
    return is_valid_vat(str(customer.get("tax_id") or ""))
