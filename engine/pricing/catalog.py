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
    # (currency, from, until, price entry, its file:line); dates as ISO strings compare
    # correctly
    prices: tuple[tuple[str, str, str, dict[str, Any], str], ...]
    where: str  # file:line of the product in its book


def catalog(bundle: Bundle) -> dict[str, Entry]:
    """Products by sku across every PriceBook; built once per bundle and kept in its index."""
    found = bundle.index.get(_INDEX_KEY)
    if found is None:
        found = {}
        for book in bundle.kind("PriceBook"):
            rounding = book.spec.get("rounding", "half_up")
            for product in book.spec.get("products", ()):
                where, wheres = _places(bundle, book, product)
                prices = tuple(
                    (p["currency"], str(p.get("effective", {}).get("from", "")),
                     str(p.get("effective", {}).get("until", "")), prepare(p), at)
                    for p, at in zip(product.get("prices", ()), wheres, strict=False)
                )
                # first book by (priority, name) wins; duplicates are a check error elsewhere
                found.setdefault(product["sku"], Entry(book, product, rounding, prices, where))
        bundle.index[_INDEX_KEY] = found
    return found


def _places(bundle: Bundle, book: PolicyDoc, product: dict[str, Any]
            ) -> tuple[str, list[str]]:
    """`file:line` of a product and of each of its prices (the book's own place for a
    bundle built without them)."""
    indexed = bundle.products.get(product["sku"], {})
    count = len(product.get("prices", ()))
    if indexed.get("_book") != book.name or len(indexed.get("_price_wheres", ())) != count:
        return book.where, [book.where] * count
    return indexed["_where"], list(indexed["_price_wheres"])


def find_price(entry: Entry, currency: str, day: str) -> tuple[dict[str, Any], str] | None:
    """The price entry for a currency effective on `day` (YYYY-MM-DD) and its `file:line`,
    or None."""
    for cur, start, until, price, where in entry.prices:
        if cur == currency and (not start or start <= day) and (not until or day < until):
            return price, where
    return None
