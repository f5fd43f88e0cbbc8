"""Check-time facts about sellers and tax places that evaluation would otherwise find late.

- A TaxRule's `jurisdiction.country` and `seller_country` are ISO 3166-1 codes (or `EU`, `*`).
- One seller is established in one country: TaxRules of a seller agree on `seller_country`.
- An InvoiceSeries numbers invoices of a seller the TaxRules know (when any TaxRule names a
  seller and none is seller-less, any other seller's orders are refused with unknown_seller,
  so its series could never be used).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from engine.errors import Diagnostic, Location
from engine.order import is_country
from engine.tax_match import ANY_COUNTRY, EU_GROUP


def seller_findings(docs: list[Any]) -> Iterator[Diagnostic]:
    """`unknown_country`, `conflicting_seller_country` and `unknown_seller` findings."""
    taxes = [d for d in docs if d.kind == "TaxRule"]
    established: dict[str, tuple[str, Location]] = {}
    for doc in taxes:
        spec = doc.raw["spec"]
        country = str((spec.get("jurisdiction") or {}).get("country") or "")
        if country not in (EU_GROUP, ANY_COUNTRY) and not is_country(country):
            yield Diagnostic("unknown_country",
                             f"jurisdiction.country {country!r} is not an ISO 3166-1 country "
                             f"code (or {EU_GROUP} / {ANY_COUNTRY})",
                             doc.at("spec", "jurisdiction", "country"), doc.name)
        home = spec.get("seller_country")
        if home is None:
            continue
        if not is_country(str(home)):
            yield Diagnostic("unknown_country",
                             f"seller_country {home!r} is not an ISO 3166-1 country code",
                             doc.at("spec", "seller_country"), doc.name)
            continue
        seller = str(spec.get("seller") or "")
        first = established.setdefault(seller, (str(home), doc.at("spec", "seller_country")))
        if first[0] != home:
            who = f"seller {seller}" if seller else "rules without a seller"
            yield Diagnostic("conflicting_seller_country",
                             f"{who} is established in {first[0]} at {first[1]}, not {home}",
                             doc.at("spec", "seller_country"), doc.name)
    named = {str(d.raw["spec"]["seller"]) for d in taxes if d.raw["spec"].get("seller")}
    if not named or any(not d.raw["spec"].get("seller") for d in taxes):
        return  # every seller is known (no TaxRule names one, or one covers any seller)
    for doc in docs:
        if doc.kind == "InvoiceSeries" and str(doc.raw["spec"]["seller"]) not in named:
            seller = doc.raw["spec"]["seller"]
            yield Diagnostic("unknown_seller",
                             f"no TaxRule names seller {seller}: its orders are refused, so this "
                             f"series is never used (known: {', '.join(sorted(named))})",
                             doc.at("spec", "seller"), doc.name)
