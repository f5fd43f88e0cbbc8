"""Which TaxRule taxes a line: seller, destination jurisdiction, applies_to, dated rates.

Jurisdictions name a country (ISO 3166-1 alpha-2), or a group: `EU` (any member state) or
`*` (any country). A group rule covers only the destinations that no rule of the same seller
and kind of tax names more closely (a country beats `EU`, `EU` beats `*`), so an "exports"
rule never catches a line that a domestic rule leaves out with `applies_to`. Within a
country, region and postcode rules are more specific than the country rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.errors import BillplaneError, Diagnostic, Location, fail
from engine.model import Order, Violation
from engine.vat import is_eu, is_valid_vat, vat_country

# specificity of a jurisdiction match; the most specific matching rule wins
ANY, GROUP, COUNTRY, REGION, POSTCODE = 1, 2, 3, 4, 5
ANY_COUNTRY = "*"
EU_GROUP = "EU"
_CANDIDATES_KEY = "tax.candidates"
_SELLERS_KEY = "tax.sellers"
_CANDIDATES_MAX = 4096
REVERSE_CHARGE_REASON = ("Reverse charge: VAT to be accounted for by the recipient "
                         "(Article 196 of Council Directive 2006/112/EC)")
"""The statement of a reverse-charged charge whose rule declares no `reverse_charge_reason`
(Article 226(11a) of the directive: the invoice mentions "Reverse charge")."""


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
    rates = doc.spec.get("rates") or ()
    for entry in rates:
        if in_effect(entry.get("effective"), day):
            return Decimal(str(entry["rate"]))
    if not rates:
        message = (f"tax rule {doc.name} has no rates: it only covers EU business customers "
                   "whose VAT is reverse charged")
    else:
        message = (f"tax rule {doc.name} matches this order but has no rate in effect on "
                   f"{day.isoformat()}")
    raise fail("no_tax_rate", message, doc.location, doc.name)


def _postcode(customer: dict[str, Any]) -> str:
    code = customer.get("postcode") or (customer.get("address") or {}).get("postcode") or ""
    return str(code).strip().upper()


def country_tier(rule_country: Any, country: str) -> int:
    """How closely a rule's `jurisdiction.country` names `country`: COUNTRY for the country
    itself, GROUP for `EU` and a member state, ANY for `*`; 0 when it does not cover it."""
    if rule_country == country:
        return COUNTRY
    if rule_country == EU_GROUP:
        return GROUP if is_eu(country) else 0
    return ANY if rule_country == ANY_COUNTRY else 0


def region_codes(jurisdiction: dict[str, Any]) -> list[str]:
    """A jurisdiction's `region` (one code or a list), upper-cased."""
    region = jurisdiction.get("region") or ()
    return [str(r).upper() for r in ([region] if isinstance(region, str) else region)]


def jurisdiction_level(jurisdiction: dict[str, Any], customer: dict[str, Any]) -> int:
    """How specifically the customer's (destination) address matches; 0 when it does not."""
    level = country_tier(jurisdiction.get("country"), str(customer.get("country") or ""))
    if level < COUNTRY:
        return level  # groups have no regions or postcodes (schema)
    regions = region_codes(jurisdiction)
    if regions:
        if str(customer.get("region") or "").upper() not in regions:
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


def jurisdiction_label(doc: PolicyDoc, customer: dict[str, Any]) -> str:
    """`GB`, or `US-CA` when the rule names regions; a group rule shows the customer's
    country (the member state an `EU` rule taxed)."""
    jurisdiction = doc.spec.get("jurisdiction") or {}
    country = str(jurisdiction.get("country", ""))
    if country in (EU_GROUP, ANY_COUNTRY):
        return str(customer.get("country") or "")
    if region_codes(jurisdiction):
        return f"{country}-{str(customer.get('region') or '').upper()}"
    return country


def _applies(doc: PolicyDoc, scope: Any, line_index: int) -> bool:
    if not doc.spec.get("applies_to"):
        return True
    return bool(scope.line_true(doc, "spec.applies_to", line_index))


@dataclass(frozen=True)
class _Sellers:
    """The sellers the bundle's TaxRules name, worked out once per bundle."""

    named: frozenset[str]
    any_seller: bool  # some rule names no seller: it taxes every seller's orders


def _sellers(bundle: Bundle) -> _Sellers:
    found = bundle.index.get(_SELLERS_KEY)
    if found is None:
        docs = bundle.kind("TaxRule")
        found = bundle.index[_SELLERS_KEY] = _Sellers(
            frozenset(str(d.spec["seller"]) for d in docs if d.spec.get("seller")),
            any(not d.spec.get("seller") for d in docs))
    return found


def check_seller(bundle: Bundle, order: Order) -> None:
    """`unknown_seller` when the bundle's TaxRules name sellers and none is this one."""
    sellers = _sellers(bundle)
    if sellers.named and not sellers.any_seller and order.seller not in sellers.named:
        raise fail("unknown_seller",
                   f"seller {order.seller!r} has no TaxRule; known sellers: "
                   f"{', '.join(sorted(sellers.named))}", Location("order.seller"))


def _no_rule(order: Order, mine: list[PolicyDoc]) -> Diagnostic:
    """The `no_tax_rule` problem, at the order field that nothing matched."""
    customer = order.customer
    country = str(customer.get("country") or "")
    named = [d for d in mine if (d.spec.get("jurisdiction") or {}).get("country") == country]
    region = str(customer.get("region") or "").upper()
    regions = [region_codes(d.spec.get("jurisdiction") or {}) for d in named]
    field, what = "country", f"customers in {country}"
    if named and not any(not listed or region in listed for listed in regions):
        field = "region"
        what = f"customers in {country}-{region}" if region else (
            f"customers in {country} without a region")
    elif named:
        field, what = "postcode", f"this postcode in {country}"
    return Diagnostic("no_tax_rule",
                      f"no TaxRule of seller {order.seller} covers {what}; add a rule for this "
                      "destination (not_taxed for supplies outside the scope of the tax)",
                      Location(f"order.customer.{field}"))


def candidate_rules(bundle: Bundle, order: Order) -> list[tuple[PolicyDoc, int]]:
    """Rules for this seller whose jurisdiction covers the customer, with their level;
    `no_tax_rule` when the bundle has TaxRules but none covers this destination."""
    customer = order.customer
    # everything jurisdiction_level reads; many orders share a destination
    key = (order.seller, customer.get("country"), str(customer.get("region") or "").upper(),
           _postcode(customer))
    cache = bundle.index.get(_CANDIDATES_KEY)
    if cache is None:
        cache = bundle.index[_CANDIDATES_KEY] = {}
    found = cache.get(key)
    if found is None:
        found = _candidates(bundle, order)
        if len(cache) >= _CANDIDATES_MAX:
            cache.clear()  # bounded: a long replay of many postcodes must not grow it forever
        cache[key] = found
    if isinstance(found, Diagnostic):
        raise BillplaneError(found)
    return _by_date(found, order.date) if len(found) > 1 else list(found)


def _live(doc: PolicyDoc, day: dt.date) -> bool:
    rates = doc.spec.get("rates")
    return not rates or any(in_effect(r.get("effective"), day) for r in rates)


def _by_date(found: tuple[tuple[PolicyDoc, int], ...], day: dt.date
             ) -> list[tuple[PolicyDoc, int]]:
    """Rules that split one destination's rate history by era (the same tax, level and
    `applies_to`): a rule with no rate on `day` gives way to one that has. Alone, it stays,
    and its missing rate is the error."""
    live = [_live(doc, day) for doc, _ in found]
    if all(live):
        return list(found)
    kept = []
    for (doc, level), ok in zip(found, live, strict=True):
        if not ok and any(
                other_ok and other is not doc and other_level == level
                and other.spec.get("tax", "vat") == doc.spec.get("tax", "vat")
                and other.spec.get("applies_to") == doc.spec.get("applies_to")
                for (other, other_level), other_ok in zip(found, live, strict=True)):
            continue
        kept.append((doc, level))
    return kept


def _candidates(bundle: Bundle, order: Order) -> tuple[tuple[PolicyDoc, int], ...] | Diagnostic:
    customer = order.customer
    country = str(customer.get("country") or "")
    mine = [doc for doc in bundle.kind("TaxRule")
            if not doc.spec.get("seller") or doc.spec["seller"] == order.seller]
    # per kind of tax, the closest way any of the seller's rules names this country
    closest: dict[str, int] = {}
    matched = []
    for doc in mine:
        spec = doc.spec
        jurisdiction = spec.get("jurisdiction") or {}
        kind = str(spec.get("tax", "vat"))
        tier = country_tier(jurisdiction.get("country"), country)
        if tier > closest.get(kind, 0):
            closest[kind] = tier
        level = jurisdiction_level(jurisdiction, customer)
        if level:
            matched.append((doc, level, kind))
    found = tuple((doc, level) for doc, level, kind in matched
                  if min(level, COUNTRY) == closest[kind])
    if not found and mine:
        return _no_rule(order, mine)
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


def exemption_for(doc: PolicyDoc, customer: dict[str, Any]) -> tuple[str, str]:
    """(code, reason) of the first exemption the rule declares that the customer holds, or of
    the rule's `not_taxed`; `('', '')` when the supply is taxed."""
    not_taxed = doc.spec.get("not_taxed")
    if not_taxed:
        return str(not_taxed["code"]), str(not_taxed.get("reason") or "")
    held = {str(code) for code in customer.get("exemptions") or ()}
    for entry in doc.spec.get("exemptions") or ():
        if entry.get("code") in held:
            return str(entry["code"]), str(entry.get("reason") or "")
    return "", ""


def reverse_charge_reason(doc: PolicyDoc) -> str:
    """The statement a reverse-charged charge of the rule carries: its
    `reverse_charge_reason`, else `REVERSE_CHARGE_REASON`."""
    return str(doc.spec.get("reverse_charge_reason") or REVERSE_CHARGE_REASON)


def reverse_charge(doc: PolicyDoc, order: Order) -> tuple[bool, Violation | None]:
    """EU B2B reverse charge: (applies, warning when it was expected but not applied).

    It applies when the rule says `reverse_charge: eu`, the customer is a business in an EU
    member state other than the rule's `seller_country`, and `customer.tax_id` is a VAT
    number of that member state that passes python-stdnum's check. A business customer in
    another member state without such a number is charged VAT, with a warning saying why.
    """
    spec = doc.spec
    if spec.get("reverse_charge") != "eu":
        return False, None
    customer = order.customer
    country = str(customer.get("country") or "")
    if customer.get("type") != "business" or not is_eu(country):
        return False, None
    if country == spec.get("seller_country"):
        return False, None  # a domestic supply
    number = str(customer.get("tax_id") or "")
    if not number:
        code, problem = "vat_number_missing", "the customer has no VAT number"
    elif not is_valid_vat(number):
        code, problem = ("vat_number_invalid",
                         "customer.tax_id is not a valid EU VAT number (format or check digit)")
    elif vat_country(number) != country:
        code, problem = ("vat_number_country_mismatch",
                         f"customer.tax_id is a VAT number of {vat_country(number)}, not of the "
                         f"customer's country {country}")
    else:
        return True, None
    return False, Violation(doc.name, "warning", code,
                            f"{problem}: {country} VAT charged instead of the reverse charge",
                            doc.where)
