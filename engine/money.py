"""Exact money: ISO 4217 minor units, rounding modes, largest-remainder allocation."""

from __future__ import annotations

from collections.abc import Callable
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
)
from functools import lru_cache

import iso4217

from engine.errors import fail

ROUNDING: dict[str, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
    "half_down": ROUND_HALF_DOWN,
}
"""Policy rounding names -> `decimal` rounding constants."""

ZERO = Decimal(0)
HUNDRED = Decimal(100)

PRECISION = 80
"""Significant digits of the engine's arithmetic (the `decimal` context an evaluation runs in):
a quantity and a price of up to 25 digits each (15 before the point, 10 after) multiply to 50
digits, so products, tier sums and rates stay exact, where the default 28 digits would round
them (or refuse to round the result to minor units)."""

SHOWN = Context(prec=40)
"""How a trace shows an exact, unrounded value: 40 significant digits (an exact product has at
most 50, a quotient such as a proration or a transaction's share as many as `PRECISION`)."""

MAX_MINOR = 2**63 - 1
"""The largest amount in minor units an invoice carries: policies see amounts as CEL ints
(`line.amount_minor`, `invoice.total_minor`), which are signed 64-bit integers."""


@lru_cache(maxsize=512)
def exponent(currency: str) -> int:
    """Minor-unit digits of an ISO 4217 currency (JPY 0, GBP 2, BHD 3; HUF 2 as ISO says)."""
    try:
        digits = iso4217.Currency(currency).exponent
    except ValueError:
        raise fail("unknown_currency", f"{currency!r} is not an ISO 4217 currency") from None
    if digits is None:
        # funds and metals (XAU, XDR, ...) have no minor unit: not invoiceable
        raise fail("unknown_currency", f"{currency} has no minor unit in ISO 4217")
    return int(digits)


@lru_cache(maxsize=512)
def quantum(currency: str) -> Decimal:
    """The smallest amount of a currency (`Decimal('0.01')` for GBP)."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str, mode: str = "half_up") -> Decimal:
    """Round `amount` to the currency's minor units with a policy rounding mode."""
    return quantizer(currency, mode)(amount)


_QUANTIZERS: dict[tuple[str, str], Callable[[Decimal], Decimal]] = {}


def quantizer(currency: str, mode: str = "half_up") -> Callable[[Decimal], Decimal]:
    """`quantize` bound to one currency and rounding mode (for rounding many amounts alike):
    the mode and the quantum are looked up once, not on every call."""
    found = _QUANTIZERS.get((currency, mode))
    if found is None:
        try:
            rounding = ROUNDING[mode]
        except KeyError:
            raise fail("unknown_rounding", f"unknown rounding mode {mode!r}") from None
        q = quantum(currency)

        def found(amount: Decimal) -> Decimal:
            result = amount.quantize(q, rounding=rounding)
            return result if result else abs(result)  # no negative zero in documents

        _QUANTIZERS[(currency, mode)] = found
    return found


_FORMATTERS: dict[str, Callable[[Decimal], str]] = {}


def formatter(currency: str) -> Callable[[Decimal], str]:
    """`fmt` bound to one currency (for formatting many amounts of one document)."""
    found = _FORMATTERS.get(currency)
    if found is None:
        q = quantum(currency)
        zero = str(q.quantize(q) * 0)

        def found(amount: Decimal) -> str:
            # after quantize the exponent is -digits (0..4): str() never writes E-notation
            rounded = amount.quantize(q, ROUND_HALF_UP)
            return str(rounded) if rounded else zero  # never a negative zero

        _FORMATTERS[currency] = found
    return found


@lru_cache(maxsize=512)
def zero_text(currency: str) -> str:
    """`fmt(ZERO, currency)` (`"0.00"`), worked out once per currency."""
    return formatter(currency)(ZERO)


_MINOR_TEXT: dict[int, Callable[[int], str]] = {}


def minor_text(digits: int) -> Callable[[int], str]:
    """Integer minor units -> decimal string with `digits` minor digits (`2550` -> `"25.50"`).

    The same text `fmt` gives for the amount, without building a Decimal.
    """
    found = _MINOR_TEXT.get(digits)
    if found is None:
        if digits == 0:
            found = str
        else:
            scale = 10 ** digits

            def found(units: int) -> str:
                # `str(part + scale)[1:]` is `part` zero-padded to `digits` (the leading 1
                # dropped): cheaper than a nested format spec (`{part:0{digits}d}`)
                if units < 0:
                    whole, part = divmod(-units, scale)
                    return f"-{whole}.{str(part + scale)[1:]}"
                whole, part = divmod(units, scale)
                return f"{whole}.{str(part + scale)[1:]}"

        _MINOR_TEXT[digits] = found
    return found


def fmt(amount: Decimal, currency: str) -> str:
    """Decimal string with exactly the currency's minor digits (`"25.00"`, `"1500"`).

    Amounts with more digits are rounded half up (stages store rounded amounts already).
    """
    return formatter(currency)(amount)


def in_range(amount: Decimal, currency: str) -> bool:
    """True when `amount` (rounded to the currency) is at most `MAX_MINOR` minor units either
    way."""
    limit = amount_limit(currency)
    return -limit <= amount <= limit


@lru_cache(maxsize=512)
def amount_limit(currency: str) -> Decimal:
    """`MAX_MINOR` minor units of a currency, as an amount (for a bound checked per line)."""
    return Decimal(MAX_MINOR).scaleb(-exponent(currency))


def to_minor(amount: Decimal, currency: str) -> int:
    """Integer minor units of an amount already rounded to the currency."""
    return int(amount.scaleb(exponent(currency)))


def allocate(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """Split `total` in proportion to `weights` by largest remainder; the parts sum exactly.

    `total` is first rounded half-up to minor units. Weights must be non-negative; when they
    are all zero the total is split evenly. Ties go to the earlier position.
    """
    if not weights:
        if total:
            raise ValueError("cannot allocate a non-zero total over no weights")
        return []
    if any(w < 0 for w in weights):
        raise ValueError("allocation weights must be non-negative")
    e = exponent(currency)
    units = int(quantize(total, currency).scaleb(e))
    sign = -1 if units < 0 else 1
    units = abs(units)
    # exact integer arithmetic: scale weights to integers by their longest fraction
    scale = max(max(0, -int(w.as_tuple().exponent)) for w in weights)
    ints = [int(w.scaleb(scale)) for w in weights]
    whole = sum(ints)
    if whole == 0:
        ints = [1] * len(weights)
        whole = len(weights)
    parts = []
    remainders = []
    for i, w in enumerate(ints):
        q, r = divmod(units * w, whole)
        parts.append(q)
        remainders.append((-r, i))
    left = units - sum(parts)
    for _, i in sorted(remainders)[:left]:
        parts[i] += 1
    return [Decimal(sign * p).scaleb(-e) for p in parts]
