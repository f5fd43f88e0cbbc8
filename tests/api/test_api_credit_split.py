"""The net/tax split of credit notes: exact, and the notes of a fully credited invoice add
up to its tax lines to the cent."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from api.credit_split import split


def _doc(lines: list[tuple[int, int]], net_extra: int) -> dict:
    tax = sum(a for _, a in lines)
    total = sum(t for t, _ in lines) + tax + net_extra
    cents = lambda units: f"{Decimal(units).scaleb(-2):.2f}"  # noqa: E731
    return {"totals": {"total": cents(total)},
            "tax_summary": [{"rule": f"r{i}", "jurisdiction": "GB", "rate": "20",
                             "taxable": cents(t), "amount": cents(a), "reverse_charge": False}
                            for i, (t, a) in enumerate(lines)]}


def test_one_line_in_proportion_half_up() -> None:
    doc = _doc([(3000, 600)], 0)  # 36.00 = 30.00 + 6.00
    first = split(doc, "0.00", "10.00", 2)
    assert (first.net, first.tax) == ("8.33", "1.67")  # 10 x 6 / 36 = 1.666...
    second = split(doc, "10.00", "26.00", 2)
    assert (second.net, second.tax) == ("21.67", "4.33")  # 6.00 - 1.67
    assert second.tax_lines[0]["taxable"] == "21.67"


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 10**5)), min_size=0,
                      max_size=4),
       net_extra=st.integers(1, 10**5),
       cuts=st.lists(st.integers(1, 10**6), min_size=1, max_size=6))
def test_notes_of_a_fully_credited_invoice_add_up_exactly(
        lines: list[tuple[int, int]], net_extra: int, cuts: list[int]) -> None:
    doc = _doc(lines, net_extra)
    total = int(Decimal(doc["totals"]["total"]) * 100)
    # credit the whole total in len(cuts) notes of proportional sizes
    weights = sum(cuts)
    amounts = [total * c // weights for c in cuts]
    amounts[-1] += total - sum(amounts)
    amounts = [a for a in amounts if a > 0]
    credited, taxes = 0, []
    for a in amounts:
        part = split(doc, f"{Decimal(credited).scaleb(-2):.2f}",
                     f"{Decimal(a).scaleb(-2):.2f}", 2)
        assert Decimal(part.net) + Decimal(part.tax) == Decimal(a).scaleb(-2)
        taxes.append(part.tax_lines)
        credited += a
    for i, line in enumerate(doc["tax_summary"]):
        assert sum(Decimal(t[i]["amount"]) for t in taxes) == Decimal(line["amount"])
        assert sum(Decimal(t[i]["taxable"]) for t in taxes) == Decimal(line["taxable"])
