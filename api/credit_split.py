"""The net/tax split of a credit note, exact, from the invoice's tax lines.

A credit note's amount includes tax. Each tax line of the invoice (`tax_summary`) is credited
in proportion to the amount credited so far: its share after this note is
round(credited_after x line / total), and this note takes the difference from the share
before it. Rounding is half up in minor units; because each note takes a difference of
cumulative shares, the notes of a fully credited invoice add up to its tax exactly.

Each share keeps the invoice line's exemption code and reason text (the reverse-charge or
exemption statement), which a credit note for such a supply must repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class Split:
    """A credit note's net and tax (decimal strings) and its share of each tax line."""

    net: str
    tax: str
    tax_lines: list[dict[str, Any]]


def _units(text: str, digits: int) -> int:
    return int(Decimal(text).scaleb(digits).to_integral_value())


def _text(units: int, digits: int) -> str:
    return f"{Decimal(units).scaleb(-digits):.{digits}f}"


def _share(part: int, credited: int, total: int) -> int:
    """round(credited x part / total), half away from zero, in minor units."""
    exact = Fraction(credited * part, total)
    sign = -1 if exact < 0 else 1
    whole, rest = divmod(abs(exact.numerator), exact.denominator)
    return sign * (whole + (1 if 2 * rest >= exact.denominator else 0))


def split(document: dict[str, Any], before: str, amount: str, digits: int) -> Split:
    """The split of a credit note of `amount` on an invoice already credited by `before`."""
    total = _units(str((document.get("totals") or {}).get("total", "0")), digits)
    credited, this = _units(before, digits), _units(amount, digits)
    lines = []
    tax = 0
    for line in document.get("tax_summary") or []:
        shares = {}
        for key in ("taxable", "amount"):
            part = _units(str(line.get(key, "0")), digits)
            shares[key] = (_share(part, credited + this, total) - _share(part, credited, total)
                           if total else 0)
        tax += shares["amount"]
        lines.append({"rule": line.get("rule", ""), "jurisdiction": line.get("jurisdiction", ""),
                      "rate": line.get("rate", ""),
                      "reverse_charge": bool(line.get("reverse_charge", False)),
                      "exemption": str(line.get("exemption") or ""),
                      "reason": str(line.get("reason") or ""),
                      "taxable": _text(shares["taxable"], digits),
                      "amount": _text(shares["amount"], digits)})
    return Split(_text(this - tax, digits), _text(tax, digits), lines)
