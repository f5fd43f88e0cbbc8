"""The pricing models of a PriceBook price entry: pure arithmetic on exact decimals.

Each model returns a `Quote`: the unrounded line amount, the unit amount to show (if the
model has one) and the inputs used, as decimal strings for the trace. Rounding to the
currency happens once, at line level, in `engine.pricing.lines`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from typing import Any, TypeVar, cast

from engine.money import SHOWN

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

N = TypeVar("N", Decimal, Fraction)
"""Transaction arithmetic runs on decimals, or on fractions for equal shares of a total that
decimals cannot write exactly (100.10 in 6 transactions of 16.68333...)."""
Amounts = Sequence[Decimal] | Sequence[Fraction]
"""A line's transaction amounts."""


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


def flat(price: dict[str, Any], quantity: Decimal, _tx: Amounts) -> Quote:
    """Charged once per line; quantity 0 charges nothing."""
    amount = dec(price["amount"])
    return Quote(amount if quantity else ZERO, amount, {"amount": str(amount)})


def per_unit(price: dict[str, Any], quantity: Decimal, _tx: Amounts) -> Quote:
    """Unit amount times quantity."""
    unit = dec(price["unit_amount"])
    return Quote(unit * quantity, unit, {"unit_amount": str(unit)})


def graduated(price: dict[str, Any], quantity: Decimal, _tx: Amounts) -> Quote:
    """Each unit in the tier it falls into; a tier's flat amount once any unit is in it, and
    the first tier's flat amount always (a quantity of 0 falls in the first tier)."""
    amount = ZERO
    below = ZERO
    used = []
    for n, tier in enumerate(tiers_of(price["tiers"]), 1):
        if quantity <= below and n > 1:
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


def volume(price: dict[str, Any], quantity: Decimal, _tx: Amounts) -> Quote:
    """All units at the tier the total quantity falls into, plus that tier's flat amount
    (a quantity of 0 is in the first tier and pays its flat amount)."""
    tiers = tiers_of(price["tiers"])
    chosen, number = tiers[-1], len(tiers)
    for n, tier in enumerate(tiers, 1):
        if tier.up_to is None or quantity <= tier.up_to:
            chosen, number = tier, n
            break
    amount = quantity * chosen.unit_amount + chosen.flat_amount
    return Quote(amount, chosen.unit_amount,
                 {"tier": str(number), "unit_amount": str(chosen.unit_amount),
                  "flat_amount": str(chosen.flat_amount)})


def package(price: dict[str, Any], quantity: Decimal, _tx: Amounts) -> Quote:
    """(quantity - free units) / size, rounded up (default) or down, times the amount."""
    spec = price["package"]
    free = Decimal(spec.get("free_units", 0))
    billable = max(ZERO, quantity - free)
    packages = divide(billable, Decimal(spec["size"]), spec.get("rounding", "up"))
    each = dec(spec["amount"])
    return Quote(packages * each, each,
                 {"packages": str(packages), "size": str(spec["size"]), "amount": str(each),
                  "free_units": str(free)})


def _clamp(fee: N, low: N | None, high: N | None) -> N:
    if low is not None and fee < low:
        return low
    if high is not None and fee > high:
        return high
    return fee


def _running_totals(transactions: Sequence[N], free_events: int, free_amount: N) -> list[N]:
    """Lago's running total of a sum metric: over the first `free_events` transactions when
    that is set, else up to and including the first total above `free_amount`."""
    totals: list[N] = []
    total = type(free_amount)(0)
    if free_events:
        for amount in transactions[:free_events]:
            total += amount
            totals.append(total)
    elif free_amount:
        for amount in transactions:
            if free_amount < total:
                break
            total += amount
            totals.append(total)
    return totals


def _percentage_aggregate(transactions: Sequence[N], rate: N, fixed: N, free_events: int,
                          free_amount: N) -> tuple[N, N, int]:
    """Lago without per-transaction limits: the rate on the total less the free value, the
    fixed fee on every transaction but the free ones. Returns (amount, free value, free count).
    """
    zero = type(free_amount)(0)
    units = sum(transactions, zero)
    running = _running_totals(transactions, free_events, free_amount)
    last = running[-1] if running else zero
    if not last:
        free_value = zero
    elif not free_amount or last <= free_amount:
        free_value = last
    else:
        free_value = free_amount
    rated = zero if free_value > units else (units - free_value) * rate / 100
    # the smaller of the two free counts that are set; a transaction whose running total
    # reaches the free amount exactly is not free of the fixed fee (Lago counts `< amount`)
    counts = [n for n in (free_events, sum(1 for t in running if t < free_amount)) if n]
    free_count = min(counts) if counts else 0
    count = len(transactions)
    fees = zero if not units or free_count >= count else (count - free_count) * fixed
    return rated + fees, free_value, min(free_count, count)


def _percentage_per_transaction(transactions: Sequence[N], rate: N, fixed: N,
                                free_events: int, free_amount: N, low: N | None,
                                high: N | None) -> tuple[N, int]:
    """Lago with a minimum or maximum per transaction: each transaction priced on its own,
    free ones first (free events, then the free amount), the rest clamped to min/max.
    Returns (amount, number of transactions left entirely free)."""
    events, budget = free_events, free_amount
    zero = total = type(free_amount)(0)
    free = 0
    for value in transactions:
        if events > 0 or budget > 0:
            events -= 1
            if budget <= 0:
                free += 1
                continue
            if budget > value:
                budget -= value
                free += 1
                continue
            # the transaction that uses up the free amount pays on the rest of it
            value -= budget
            budget = zero
            events = 0
        total += _clamp(value * rate / 100 + fixed, low, high)
    return total, free


def _decimal(value: Decimal | Fraction) -> Decimal:
    """A fraction as a decimal: exact when it terminates within the context's precision (the
    evaluation's 80 digits); a quotient that does not terminate is never a rounding tie, so
    its first 80 digits round to minor units as the fraction would."""
    if isinstance(value, Decimal):
        return value
    return Decimal(value.numerator) / Decimal(value.denominator)


def percentage(price: dict[str, Any], quantity: Decimal, tx: Amounts) -> Quote:
    """Lago "percentage": rate of the transaction amounts plus a fixed fee per transaction,
    after free transactions (`free_units`) and a free amount (`free_amount`).

    Follows getlago/lago-api app/services/charges/charge_models/percentage_service.rb (and its
    spec): without min/max the rate applies to the total less the free value and the fixed fee
    to the transactions that are not free; with `min_per_transaction` or
    `max_per_transaction` each transaction is priced on its own and clamped, except free ones.
    Without a transaction list the quantity is one transaction.
    """
    spec = price["percentage"]
    rate = dec(spec["rate"])
    fixed = dec(spec.get("fixed_fee"))
    free_events = int(spec.get("free_units") or 0)
    free_amount = dec(spec.get("free_amount"))
    low = None if spec.get("min_per_transaction") is None else dec(spec["min_per_transaction"])
    high = None if spec.get("max_per_transaction") is None else dec(spec["max_per_transaction"])
    transactions: Amounts = tx or ((quantity,) if quantity else ())
    inputs = {"rate": str(spec["rate"]), "fixed_fee": str(fixed),
              "transactions": str(len(transactions))}
    limited = low is not None or high is not None
    amount: Decimal | Fraction
    free_value: Decimal | Fraction
    # a line's transactions are all decimals or all equal fractions (`transaction_count`);
    # `type` and not `isinstance`, which goes through Fraction's abstract base classes
    if transactions and type(transactions[0]) is Fraction:
        parts = [Fraction(t) for t in transactions]
        f_low = None if low is None else Fraction(low)
        f_high = None if high is None else Fraction(high)
        if limited:
            amount, free = _percentage_per_transaction(
                parts, Fraction(rate), Fraction(fixed), free_events, Fraction(free_amount),
                f_low, f_high)
        else:
            amount, free_value, free = _percentage_aggregate(
                parts, Fraction(rate), Fraction(fixed), free_events, Fraction(free_amount))
    else:
        decimals = cast(Sequence[Decimal], transactions)
        if limited:
            amount, free = _percentage_per_transaction(decimals, rate, fixed, free_events,
                                                       free_amount, low, high)
        else:
            amount, free_value, free = _percentage_aggregate(decimals, rate, fixed,
                                                             free_events, free_amount)
    if limited:
        inputs["free_transactions"] = str(free)
        for key, limit in (("min_per_transaction", low), ("max_per_transaction", high)):
            if limit is not None:
                inputs[key] = str(limit)
    else:
        inputs["free_value"] = str(SHOWN.plus(_decimal(free_value)))
        inputs["free_transactions"] = str(free)
    return Quote(_decimal(amount), None, inputs)


MODELS: dict[str, Callable[[dict[str, Any], Decimal, Amounts], Quote]] = {
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


def quote(price: dict[str, Any], quantity: Decimal, tx: Amounts = ()) -> Quote:
    """Price a quantity (and transactions) with one price entry, transform first."""
    q = transform(quantity, price.get("transform"))
    result = MODELS[price["model"]](price, q, tx)
    if q != quantity:
        result.inputs["transformed_quantity"] = str(q)
    return result
