"""The pricing models of a PriceBook price entry: pure arithmetic on exact decimals.

Each model returns a `Quote`: the unrounded line amount, the unit amount to show (if the
model has one) and the inputs used, as decimal strings for the trace. Rounding to the
currency happens once, at line level, in `engine.pricing.lines`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


@dataclass
class Quote:
    """What a model computed for one line, before rounding."""

    amount: Decimal
    unit_amount: Decimal | None
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None  # last unit of the tier, inclusive; None = no upper bound
    unit_amount: Decimal
    flat_amount: Decimal


def dec(value: Any, default: Decimal = ZERO) -> Decimal:
    """A policy number (int, Decimal or decimal string) as Decimal; `default` when absent."""
    if value is None:
        return default
    return value if isinstance(value, Decimal) else Decimal(str(value))


def tiers_of(raw: Sequence[Any]) -> tuple[Tier, ...]:
    """Tier tuples from a price entry's `tiers` list (already converted ones pass through)."""
    if isinstance(raw, tuple):
        return raw
    return tuple(
        Tier(None if t.get("up_to") is None else Decimal(t["up_to"]),
             dec(t.get("unit_amount")), dec(t.get("flat_amount")))
        for t in raw
    )


def divide(quantity: Decimal, by: Decimal, direction: str) -> Decimal:
    """`quantity / by` rounded to a whole number `up` or `down`."""
    rounding = ROUND_CEILING if direction == "up" else ROUND_FLOOR
    return (quantity / by).to_integral_value(rounding=rounding)


def transform(quantity: Decimal, spec: dict[str, Any] | None) -> Decimal:
    """Stripe `transform_quantity`: divide the quantity, round up (default) or down."""
    if not spec:
        return quantity
    return divide(quantity, Decimal(spec["divide_by"]), spec.get("round", "up"))


def flat(price: dict[str, Any], quantity: Decimal, _tx: Sequence[Decimal]) -> Quote:
    """Charged once per line; quantity 0 charges nothing."""
    amount = dec(price["amount"])
    return Quote(amount if quantity else ZERO, amount, {"amount": str(amount)})


def per_unit(price: dict[str, Any], quantity: Decimal, _tx: Sequence[Decimal]) -> Quote:
    """Unit amount times quantity."""
    unit = dec(price["unit_amount"])
    return Quote(unit * quantity, unit, {"unit_amount": str(unit)})


def graduated(price: dict[str, Any], quantity: Decimal, _tx: Sequence[Decimal]) -> Quote:
    """Each unit in the tier it falls into; a tier's flat amount once any unit is in it."""
    amount = ZERO
    below = ZERO
    used = []
    for n, tier in enumerate(tiers_of(price["tiers"]), 1):
        if quantity <= below:
            break
        top = quantity if tier.up_to is None else min(quantity, tier.up_to)
        units = top - below
        amount += units * tier.unit_amount + tier.flat_amount
        flat_part = f" + {tier.flat_amount}" if tier.flat_amount else ""
        used.append(f"tier {n}: {units} x {tier.unit_amount}{flat_part}")
        if tier.up_to is None:
            break
        below = tier.up_to
    return Quote(amount, None, {"tiers": "; ".join(used)})


def volume(price: dict[str, Any], quantity: Decimal, _tx: Sequence[Decimal]) -> Quote:
    """All units at the tier the total quantity falls into, plus that tier's flat amount."""
    tiers = tiers_of(price["tiers"])
    chosen, number = tiers[-1], len(tiers)
    for n, tier in enumerate(tiers, 1):
        if tier.up_to is None or quantity <= tier.up_to:
            chosen, number = tier, n
            break
    amount = quantity * chosen.unit_amount + chosen.flat_amount if quantity else ZERO
    return Quote(amount, chosen.unit_amount,
                 {"tier": str(number), "unit_amount": str(chosen.unit_amount),
                  "flat_amount": str(chosen.flat_amount)})


def package(price: dict[str, Any], quantity: Decimal, _tx: Sequence[Decimal]) -> Quote:
    """(quantity - free units) / size, rounded up (default) or down, times the amount."""
    spec = price["package"]
    free = Decimal(spec.get("free_units", 0))
    billable = max(ZERO, quantity - free)
    packages = divide(billable, Decimal(spec["size"]), spec.get("rounding", "up"))
    each = dec(spec["amount"])
    return Quote(packages * each, each,
                 {"packages": str(packages), "size": str(spec["size"]), "amount": str(each),
                  "free_units": str(free)})


def _clamp(fee: Decimal, low: Decimal | None, high: Decimal | None) -> Decimal:
    if low is not None and fee < low:
        fee = low
    if high is not None and fee > high:
        fee = high
    return fee


def percentage(price: dict[str, Any], quantity: Decimal, tx: Sequence[Decimal]) -> Quote:
    """Lago "percentage": rate of each transaction plus a fixed fee, after free units.

    With `free_units` N the first N transactions carry no fixed fee and their amounts are
    exempt from the rate, the exempt amount capped by `free_amount` when both are set (Lago:
    "the first 3 events or $500 are free"). With only `free_amount`, that much of the running
    total is exempt from the rate and every transaction pays the fixed fee. Each charged
    transaction's fee is clamped to min/max per transaction; free transactions stay free.
    Without a transaction list the quantity is one transaction.
    """
    spec = price["percentage"]
    rate = dec(spec["rate"]) / HUNDRED
    fixed = dec(spec.get("fixed_fee"))
    free_units = spec.get("free_units")
    free_amount = None if spec.get("free_amount") is None else dec(spec["free_amount"])
    low = None if spec.get("min_per_transaction") is None else dec(spec["min_per_transaction"])
    high = None if spec.get("max_per_transaction") is None else dec(spec["max_per_transaction"])
    transactions = list(tx) if tx else ([quantity] if quantity else [])
    budget = free_amount
    total = ZERO
    charged = 0
    for n, amount in enumerate(transactions):
        if free_units is not None:
            if n < free_units:
                exempt = amount if budget is None else min(amount, budget)
                if budget is not None:
                    budget -= exempt
                if exempt == amount:
                    continue  # a free transaction: no fee at all
                fee = rate * (amount - exempt)
            else:
                fee = rate * amount + fixed
        else:
            exempt = ZERO if budget is None else min(amount, budget)
            if budget is not None:
                budget -= exempt
            fee = rate * (amount - exempt) + fixed
        total += _clamp(fee, low, high)
        charged += 1
    return Quote(total, None, {"rate": str(spec["rate"]), "fixed_fee": str(fixed),
                               "transactions": str(len(transactions)),
                               "charged_transactions": str(charged)})


MODELS: dict[str, Callable[[dict[str, Any], Decimal, Sequence[Decimal]], Quote]] = {
    "flat": flat,
    "per_unit": per_unit,
    "graduated": graduated,
    "volume": volume,
    "package": package,
    "percentage": percentage,
}
"""Model name (PriceBook `model:`) -> function(price entry, quantity, transactions)."""


def prepare(price: dict[str, Any]) -> dict[str, Any]:
    """A price entry with its tiers converted once (the catalogue keeps this copy)."""
    if "tiers" in price:
        return {**price, "tiers": tiers_of(price["tiers"])}
    return price


def quote(price: dict[str, Any], quantity: Decimal, tx: Sequence[Decimal] = ()) -> Quote:
    """Price a quantity (and transactions) with one price entry, transform first."""
    q = transform(quantity, price.get("transform"))
    result = MODELS[price["model"]](price, q, tx)
    if q != quantity:
        result.inputs["transformed_quantity"] = str(q)
    return result
