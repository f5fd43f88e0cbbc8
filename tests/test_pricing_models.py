"""Pricing models against brute-force unit-by-unit computations, and proration dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.model import Period
from engine.pricing.models import quote
from engine.pricing.proration import add_months, proration

TIERS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=500),
              st.integers(min_value=0, max_value=300)),
    min_size=1, max_size=4)


def _tiers(raw: list[tuple[int, int, int]]) -> list[dict[str, Any]]:
    """Increasing up_to bounds from widths; the last tier is open ended."""
    tiers, top = [], 0
    for k, (width, unit_cents, flat_cents) in enumerate(raw):
        top += width
        tiers.append({"up_to": None if k == len(raw) - 1 else top,
                      "unit_amount": Decimal(unit_cents).scaleb(-2),
                      "flat_amount": Decimal(flat_cents).scaleb(-2)})
    return tiers


def _tier_of(unit: int, tiers: list[dict[str, Any]]) -> int:
    for k, tier in enumerate(tiers):
        if tier["up_to"] is None or unit <= tier["up_to"]:
            return k
    raise AssertionError("the last tier is open ended")


@given(raw=TIERS, quantity=st.integers(min_value=0, max_value=200))
def test_graduated_is_the_sum_over_units(raw: list[tuple[int, int, int]], quantity: int) -> None:
    tiers = _tiers(raw)
    used: set[int] = {0}  # the first tier's flat amount is due even at quantity 0
    want = Decimal(0)
    for unit in range(1, quantity + 1):
        k = _tier_of(unit, tiers)
        want += tiers[k]["unit_amount"]
        used.add(k)
    want += sum((tiers[k]["flat_amount"] for k in used), Decimal(0))
    got = quote({"model": "graduated", "tiers": tiers}, Decimal(quantity))
    assert got.amount == want


@given(raw=TIERS, quantity=st.integers(min_value=0, max_value=200))
def test_volume_prices_every_unit_at_the_tier_of_the_total(
        raw: list[tuple[int, int, int]], quantity: int) -> None:
    tiers = _tiers(raw)
    tier = tiers[_tier_of(quantity, tiers)]
    want = tier["unit_amount"] * quantity + tier["flat_amount"]
    assert quote({"model": "volume", "tiers": tiers}, Decimal(quantity)).amount == want


@given(size=st.integers(min_value=1, max_value=50), free=st.integers(min_value=0, max_value=30),
       quantity=st.integers(min_value=0, max_value=500), up=st.booleans())
def test_package_counts_packages(size: int, free: int, quantity: int, up: bool) -> None:
    packages, left = 0, max(0, quantity - free)
    while left >= size:  # whole packages one at a time
        packages += 1
        left -= size
    if up and left:
        packages += 1
    price = {"model": "package", "package": {"size": size, "amount": Decimal("2.50"),
                                             "free_units": free,
                                             "rounding": "up" if up else "down"}}
    assert quote(price, Decimal(quantity)).amount == Decimal("2.50") * packages


def test_transform_then_model() -> None:
    price = {"model": "volume", "transform": {"divide_by": 10, "round": "up"},
             "tiers": [{"up_to": 2, "unit_amount": Decimal(5)},
                       {"up_to": None, "unit_amount": Decimal(4)}]}
    # 25 -> 3 (rounded up) -> second tier: 3 x 4 = 12
    got = quote(price, Decimal(25))
    assert got.amount == 12 and got.inputs["transformed_quantity"] == "3"


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert add_months(dt.date(2024, 2, 29), 12) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2026, 11, 15), 3) == dt.date(2027, 2, 15)


def test_proration_shares() -> None:
    march = Period(dt.date(2026, 3, 10), dt.date(2026, 4, 1))
    assert proration(march, "month") == (22, 31)
    assert proration(march, "year") == (22, 365)
    assert proration(Period(dt.date(2026, 3, 1), dt.date(2026, 4, 1)), "month") is None
    assert proration(Period(dt.date(2026, 3, 1), dt.date(2026, 6, 1)), "month") is None
    assert proration(march, None) is None
    assert proration(None, "month") is None
