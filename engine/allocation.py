"""Exact splits, and order bundles: lines sold as one package share its net by standalone
selling price.

Lines whose `attributes.bundle` carry the same id form a bundle: one contract with several
performance obligations (ASC 606 / IFRS 15). The bundle's net, the sum of its lines' nets, is
allocated to its lines in proportion to their standalone selling prices, a line's being its
amount before discounts and exclusive of tax (its `subtotal`: what the seller asks for it
alone), or `attributes.ssp` when the order states it (a decimal in the order currency, for a
line whose price was negotiated rather than discounted). A discount given on one line of a
bundle is so shared by all of them. Largest
remainder, ties to the earlier line, so the allocations sum exactly to the bundle's net; each
line then recognises its allocation by its own method.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from engine.errors import Location, fail
from engine.model import DERIVED, PricedLine, TraceEntry, trace_entry
from engine.money import exponent, minor_text

Weight = Fraction | int
BUNDLE = "bundle"
"""The line attribute naming the order bundle a line belongs to."""
SSP = "ssp"
"""The line attribute stating a bundled line's standalone selling price."""


def split_units(units: int, weights: Sequence[Weight]) -> list[int]:
    """Split integer `units` by exact weights with largest remainder (ties to the earlier)."""
    sign, units = (-1 if units < 0 else 1), abs(units)
    ints: Sequence[int]
    if all(type(w) is int for w in weights):
        ints = cast(Sequence[int], weights)
    else:
        # integer arithmetic on a common denominator: exact and far cheaper than Fractions
        den = math.lcm(*(w.denominator for w in weights))
        ints = [w.numerator * (den // w.denominator) for w in weights]
    whole = sum(ints)
    if whole == 0:
        ints, whole = [1] * len(ints), len(ints)
    parts = [units * w // whole for w in ints]
    left = units - sum(parts)
    if left:
        # the largest remainders get one unit more; equal remainders go to the earlier part
        # (the sort is stable, also in reverse: ties keep index order, as a (-r, i) key
        # would, without a Python key call and a tuple per part)
        remainders = [units * w % whole for w in ints]
        ranked = sorted(range(len(ints)), key=remainders.__getitem__, reverse=True)
        for i in ranked[:left]:
            parts[i] += 1
    return [-p for p in parts] if sign < 0 else parts


def allocate_exact(total: Decimal, weights: Sequence[Weight], currency: str) -> list[Decimal]:
    """Split `total` (already in minor units) by exact weights with largest remainder."""
    if not weights:
        return []
    e = exponent(currency)
    return [Decimal(p).scaleb(-e) for p in split_units(int(total.scaleb(e)), weights)]


def _stated_ssp(text: str, line: PricedLine, e: int) -> int:
    """A standalone selling price given on the order, in minor units; refused when it is not
    a non-negative amount in the currency's minor units."""
    try:
        value = Decimal(text)
        ok = value.is_finite() and value >= 0 and value == value.quantize(Decimal(1).scaleb(-e))
    except ArithmeticError:  # not a number, or too many digits to quantize
        ok = False
    if not ok:
        raise fail("invalid_ssp",
                   f"attributes.ssp {text!r} is not a non-negative amount with at most {e}"
                   " decimals", Location(f"order.lines[{line.order_line.index}].attributes.ssp"))
    return int(value.scaleb(e))


def allocate_bundles(lines: list[PricedLine], currency: str, trace: list[TraceEntry]
                     ) -> tuple[dict[int, Decimal], list[dict[str, Any]]]:
    """Per position in `lines`, what a bundled line recognises, and the `allocations` of the
    document (one entry per bundled line, in line order); both empty without bundles."""
    groups: dict[str, list[int]] = {}
    for position, line in enumerate(lines):
        bundle = line.order_line.attributes.get(BUNDLE)
        if bundle:
            groups.setdefault(bundle, []).append(position)
    if not groups:
        return {}, []
    e = exponent(currency)
    text = minor_text(e)
    shares: dict[int, tuple[str, int, int, int, int, int]] = {}
    stated: dict[int, str] = {}
    for bundle, positions in groups.items():
        ssp = []
        for p in positions:
            line = lines[p]
            given = line.order_line.attributes.get(SSP)
            if given is None:
                ssp.append(int((line.amount - line.included_tax
                                - line.discount_included_tax).scaleb(e)))
            else:
                ssp.append(_stated_ssp(given, line, e))
                stated[p] = given
        nets = [int(lines[p].net.scaleb(e)) for p in positions]
        whole_net, whole_ssp = sum(nets), sum(ssp)
        for p, s, n, part in zip(positions, ssp, nets, split_units(whole_net, ssp), strict=True):
            shares[p] = (bundle, s, n, part, whole_net, whole_ssp)
    amounts: dict[int, Decimal] = {}
    docs: list[dict[str, Any]] = []
    append = trace.append
    for k, position in enumerate(sorted(shares)):
        bundle, s, n, part, whole_net, whole_ssp = shares[position]
        amounts[position] = Decimal(part).scaleb(-e)
        here = f"recognition.allocations[{k}]"
        ssp_text, net_text, part_text = text(s), text(n), text(part)
        docs.append({"bundle": bundle, "line": lines[position].order_line.index,
                     "ssp": ssp_text, "net": net_text, "amount": part_text})
        index = lines[position].order_line.index
        if position in stated:
            append(trace_entry(f"{here}.ssp", "order", f"order.lines[{index}].attributes.ssp",
                              None, {}, ssp_text))
        else:
            append(trace_entry(f"{here}.ssp", DERIVED, "", None,
                              {"formula": f"lines[{position}].subtotal",
                               f"lines[{position}].subtotal": ssp_text}, ssp_text))
        append(trace_entry(f"{here}.net", DERIVED, "", None,
                          {"formula": f"lines[{position}].net",
                           f"lines[{position}].net": net_text}, net_text))
        append(trace_entry(f"{here}.amount", DERIVED, "", amounts[position],
                          {"formula": f"share: bundle_net x {here}.ssp / bundle_ssp",
                           "bundle": bundle, "bundle_net": text(whole_net),
                           f"{here}.ssp": ssp_text, "bundle_ssp": text(whole_ssp)}, part_text))
    return amounts, docs
