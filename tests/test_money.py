"""Money helpers: ISO 4217 exponents, rounding modes, exact allocation (property-based)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import BillplaneError
from engine.money import allocate, exponent, fmt, quantize, to_minor


@pytest.mark.parametrize(("currency", "digits"), [
    ("JPY", 0), ("BHD", 3), ("GBP", 2), ("EUR", 2), ("KWD", 3), ("CLP", 0),
    ("HUF", 2),  # ISO 4217 says 2 (CLDR says 0)
    ("IDR", 2),  # ISO 4217 says 2 (CLDR says 0)
    ("IQD", 3),  # ISO 4217 says 3 (CLDR says 0)
    ("CLF", 4), ("UYW", 4),  # unidades de fomento / indexed units: 4 minor digits
])
def test_iso_exponents(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


@pytest.mark.parametrize("currency", ["ZZZ", "XAU", "gbp"])
def test_unknown_or_unit_less_currency(currency: str) -> None:
    with pytest.raises(BillplaneError) as err:
        exponent(currency)
    assert err.value.code == "unknown_currency"


@pytest.mark.parametrize(("amount", "mode", "want"), [
    ("2.345", "half_up", "2.35"), ("2.345", "half_even", "2.34"), ("2.355", "half_even", "2.36"),
    ("2.345", "half_down", "2.34"), ("2.346", "half_down", "2.35"), ("2.341", "up", "2.35"),
    ("2.349", "down", "2.34"), ("-2.345", "half_up", "-2.35"), ("-2.341", "down", "-2.34"),
    ("-0.001", "half_up", "0.00"),
])
def test_quantize_modes(amount: str, mode: str, want: str) -> None:
    assert fmt(quantize(Decimal(amount), "GBP", mode), "GBP") == want


def test_fmt_minor_digits() -> None:
    assert fmt(Decimal("25"), "GBP") == "25.00"
    assert fmt(Decimal("1500"), "JPY") == "1500"
    assert fmt(Decimal("1.5"), "BHD") == "1.500"
    assert fmt(Decimal("-0.00"), "GBP") == "0.00"
    assert fmt(Decimal("1E+3"), "GBP") == "1000.00"


def test_unknown_rounding_mode() -> None:
    with pytest.raises(BillplaneError) as err:
        quantize(Decimal(1), "GBP", "bankers")
    assert err.value.code == "unknown_rounding"


def test_allocate_examples() -> None:
    # 100.00 over three equal weights: 33.34 to the first (ties go to the earlier line)
    assert allocate(Decimal("100.00"), [Decimal(1)] * 3, "GBP") == [
        Decimal("33.34"), Decimal("33.33"), Decimal("33.33")]
    # 10 JPY over 1:2 -> exact 3.33 / 6.67: floors 3 + 6, the one left goes to the larger rest
    assert allocate(Decimal(10), [Decimal(1), Decimal(2)], "JPY") == [Decimal(3), Decimal(7)]
    assert allocate(Decimal("0.05"), [Decimal(0), Decimal(0)], "GBP") == [
        Decimal("0.03"), Decimal("0.02")]
    assert allocate(Decimal("-1.00"), [Decimal(1), Decimal(1), Decimal(1)], "GBP") == [
        Decimal("-0.34"), Decimal("-0.33"), Decimal("-0.33")]
    assert allocate(Decimal(0), [], "GBP") == []


def test_allocate_rejects_negative_weights() -> None:
    with pytest.raises(ValueError):
        allocate(Decimal(1), [Decimal(1), Decimal(-1)], "GBP")


CURRENCIES = st.sampled_from(["GBP", "JPY", "BHD"])
WEIGHTS = st.lists(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False,
                               allow_infinity=False), min_size=1, max_size=12)


@given(total=st.integers(min_value=-10**9, max_value=10**9), weights=WEIGHTS,
       currency=CURRENCIES)
def test_allocate_properties(total: int, weights: list[Decimal], currency: str) -> None:
    amount = Decimal(total).scaleb(-exponent(currency))
    parts = allocate(amount, weights, currency)
    assert len(parts) == len(weights)
    assert sum(parts, Decimal(0)) == amount
    unit = Decimal(1).scaleb(-exponent(currency))
    whole = sum(weights, Decimal(0))
    for part, weight in zip(parts, weights, strict=True):
        assert part == quantize(part, currency)  # whole minor units
        if total >= 0:
            assert part >= 0
        exact = amount * weight / whole if whole else amount / len(weights)
        assert abs(part - exact) < unit


@given(value=st.decimals(min_value=-10**9, max_value=10**9, places=6, allow_nan=False,
                         allow_infinity=False),
       currency=CURRENCIES, mode=st.sampled_from(["half_up", "half_even", "down", "up",
                                                  "half_down"]))
def test_quantize_properties(value: Decimal, currency: str, mode: str) -> None:
    unit = Decimal(1).scaleb(-exponent(currency))
    got = quantize(value, currency, mode)
    assert got.as_tuple().exponent == -exponent(currency)
    assert abs(got - value) < unit
    if mode == "down":
        assert abs(got) <= abs(value)
    if mode == "up":
        assert abs(got) >= abs(value)
    if mode.startswith("half"):
        assert abs(got - value) <= unit / 2
        if abs(got - value) == unit / 2:  # a tie: the mode decides
            away = abs(got) > abs(value)
            if mode == "half_up":
                assert away
            elif mode == "half_down":
                assert not away
            else:
                assert to_minor(got, currency) % 2 == 0


@given(value=st.decimals(min_value=-10**12, max_value=10**12, places=4, allow_nan=False,
                         allow_infinity=False), currency=CURRENCIES)
def test_fmt_is_the_plain_rounded_value(value: Decimal, currency: str) -> None:
    text = fmt(value, currency)
    digits = exponent(currency)
    assert "E" not in text and "e" not in text
    assert (len(text.split(".")[1]) if "." in text else 0) == digits
    assert Decimal(text) == quantize(value, currency)
    assert not text.startswith("-") or Decimal(text) != 0
