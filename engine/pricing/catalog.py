"""Price lookup: the product of a sku and its price for a currency on a date."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.pricing.models import prepare

_INDEX_KEY = "pricing.catalog"


@dataclass(frozen=True)
class Entry:
    """A product as one PriceBook declares it."""

    book: PolicyDoc
    product: dict[str, Any]
    rounding: str
    # (currency, from, until, price entry); dates as ISO strings compare correctly
    prices: tuple[tuple[str, str, str, dict[str, Any]], ...]


def catalog(bundle: Bundle) -> dict[str, Entry]:
    """Products by sku across every PriceBook; built once per bundle and kept in its index."""
    found = bundle.index.get(_INDEX_KEY)
    if found is None:
        found = {}
        for book in bundle.kind("PriceBook"):
            rounding = book.spec.get("rounding", "half_up")
            for product in book.spec.get("products", ()):
                prices = tuple(
                    (p["currency"], str(p.get("effective", {}).get("from", "")),
                     str(p.get("effective", {}).get("until", "")), prepare(p))
                    for p in product.get("prices", ())
                )
                # first book by (priority, name) wins; duplicates are a check error elsewhere
                found.setdefault(product["sku"], Entry(book, product, rounding, prices))
        bundle.index[_INDEX_KEY] = found
    return found


def find_price(entry: Entry, currency: str, day: str) -> dict[str, Any] | None:
    """The price entry for a currency effective on `day` (YYYY-MM-DD), or None."""
    for cur, start, until, price in entry.prices:
        if cur == currency and (not start or start <= day) and (not until or day < until):
            return price
    return None
