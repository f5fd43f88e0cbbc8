"""Synthetic order histories drawn from the real Online Retail distributions, seeded.

`derive_distributions` turns Online Retail exports into a small JSON of distributions
(countries, products with their usual price, quantities, lines per order); the generator
streams any number of orders from it, the same orders for the same seed. Each order draws
from its own seeded stream, so any range of a history can be generated on its own (a replay's
workers generate their pieces themselves) and is the same orders as in the whole.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from sandbox.sources import Record
from sandbox.sources.online_retail import RETAIL_SKU, OnlineRetailSource

DEFAULT_START = dt.date(2010, 12, 1)
DEFAULT_END = dt.date(2011, 12, 10)  # exclusive: the data set ends 2011-12-09


def load_distributions(path: str | None = None) -> dict[str, Any]:
    """The shipped distributions (sandbox/data/distributions.json) or a given file."""
    if path:
        return dict(json.loads(Path(path).read_text("utf-8")))
    text = resources.files("sandbox").joinpath("data", "distributions.json").read_text("utf-8")
    return dict(json.loads(text))


def derive_distributions(paths: list[str], products: int = 400) -> dict[str, Any]:
    """Count countries, products, prices, quantities and lines per order in real exports."""
    countries: Counter[str] = Counter()
    quantities: Counter[int] = Counter()
    lines_per_order: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    prices: dict[str, Counter[str]] = {}
    names: dict[str, str] = {}
    for path in paths:
        contiguous = "head" in Path(path).name  # only a contiguous export shows order sizes
        for rec in OnlineRetailSource(path).records():
            if rec.order is None or rec.order["attributes"].get("document") == "credit_note":
                continue
            countries[rec.order["customer"]["country"]] += 1
            if contiguous:
                lines_per_order[len(rec.order["lines"])] += 1
            for line in rec.order["lines"]:
                code = line["attributes"]["stock_code"]
                codes[code] += 1
                quantities[int(line["quantity"])] += 1
                prices.setdefault(code, Counter())[line["unit_price"]] += 1
                names.setdefault(code, line["description"])
    top = [c for c, _ in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:products]]
    return {
        "source": "UCI Online Retail (CC BY 4.0, DOI 10.24432/C5BW33); see SOURCE.txt",
        "countries": sorted(countries.items()),
        "quantities": sorted(quantities.items()),
        "lines_per_order": sorted(lines_per_order.items()),
        "products": [
            [c, names[c], min(prices[c].items(), key=lambda kv: (-kv[1], Decimal(kv[0])))[0],
             codes[c]]
            for c in top
        ],
    }


class _Choice:
    """Weighted choice by cumulative weights (bisect), deterministic for a given Random."""

    def __init__(self, pairs: list[tuple[Any, int]]) -> None:
        self.values = [v for v, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))

    def pick(self, rnd: random.Random) -> Any:
        return self.values[bisect.bisect_right(self.cum, rnd.random() * self.cum[-1])]


class GeneratorSource:
    """`count` synthetic orders for `seed`; streamed, nothing kept in memory."""

    def __init__(self, count: int, seed: int = 1, seller: str = "northwind-uk",
                 sku: str = RETAIL_SKU, customers: int = 5000, start: dt.date = DEFAULT_START,
                 end: dt.date = DEFAULT_END, distributions: dict[str, Any] | None = None,
                 **_: Any) -> None:
        self.count = count
        self.seed = seed
        self.seller = seller
        self.sku = sku
        self.customers = customers
        self.start = start
        self.days = (end - start).days
        self.dist = distributions or load_distributions()
        self.name = f"generate:{count}:{seed}"
        self.total: int | None = count
        self.unit = "orders"

    def orders(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """The orders themselves (what `billplane generate` writes), or those numbered
        `start + 1` to `stop`."""
        # quantities as the order writes them, each product with its line's sku
        quantity = _Choice([(str(q), n) for q, n in self.dist["quantities"]])
        size = _Choice([(k, n) for k, n in self.dist["lines_per_order"]])
        product = _Choice([((self.sku or c, c, d, p), n) for c, d, p, n in self.dist["products"]])
        home = _homes(self.seed, self.customers,
                      tuple((str(c), int(n)) for c, n in self.dist["countries"]))
        rnd = random.Random()
        # `_Choice.pick` written out in the loop below (a line is the innermost step)
        draw, bisect_right = rnd.random, bisect.bisect_right
        products, product_cum, product_all = product.values, product.cum, product.cum[-1]
        quantities, quantity_cum, quantity_all = quantity.values, quantity.cum, quantity.cum[-1]
        for n in range(start, self.count if stop is None else min(stop, self.count)):
            rnd.seed(self.seed * _STREAMS + n)  # the order's own stream
            cust = rnd.randrange(self.customers)
            date = self.start + dt.timedelta(days=rnd.randrange(self.days))
            lines = []
            for _ in range(size.pick(rnd)):
                sku, code, description, price = products[
                    bisect_right(product_cum, draw() * product_all)]
                lines.append({"sku": sku, "quantity": quantities[
                                  bisect_right(quantity_cum, draw() * quantity_all)],
                              "unit_price": price, "description": description,
                              "attributes": {"stock_code": code}})
            yield {
                "id": f"G{self.seed}-{n + 1:07d}",
                "date": date.isoformat(),
                "currency": "GBP",
                "seller": self.seller,
                "customer": {"id": f"SC{cust:05d}", "country": home[cust], "type": "consumer"},
                "lines": lines,
                "attributes": {"source": "synthetic"},
            }

    def records(self) -> Iterator[Record]:
        """Orders as records, numbered from 1."""
        for n, order in enumerate(self.orders(), start=1):
            yield Record(n, order=order)

    def pieces(self, size: int) -> Iterator[Generated]:
        """Ranges of `size` orders, generated by whoever reads the piece."""
        for start in range(0, self.count, max(1, size)):
            yield Generated(self, start, min(self.count, start + max(1, size)))


_STREAMS = 1 << 40  # orders per seed before two seeds' streams could meet


@lru_cache(maxsize=16)
def _homes(seed: int, customers: int, countries: tuple[tuple[str, int], ...]) -> list[str]:
    """Each synthetic customer's one country, drawn once from the real mix."""
    rnd = random.Random(seed)
    country = _Choice(list(countries))
    return [country.pick(rnd) for _ in range(customers)]


@dataclass(frozen=True)
class Generated:
    """Orders `start + 1` to `stop` of a synthetic history (a `Piece`)."""

    source: GeneratorSource
    start: int
    stop: int
    pos: int = 0

    @property
    def count(self) -> int:
        return self.stop - self.start

    def records(self) -> Iterator[Record]:
        for n, order in enumerate(self.source.orders(self.start, self.stop),
                                  start=self.start + 1):
            yield Record(n, order=order)
