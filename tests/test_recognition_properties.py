"""Properties: every schedule sums exactly to what it splits, whatever the amounts and dates;
journals balance in every period and keep every account at or above zero."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.allocation import allocate_bundles
from engine.journal import journal_entries
from engine.model import Discount, Order, OrderLine, Period, PricedLine
from engine.recognition import METHODS, allocate_exact, month_equivalents

amounts = st.integers(min_value=-10**9, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2))
days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))


@settings(max_examples=200, deadline=None)
@given(amounts, st.lists(st.fractions(min_value=0, max_value=10**6), min_size=1, max_size=40))
def test_allocate_exact_sums_and_stays_within_a_unit(total: Decimal,
                                                     weights: list[Fraction]) -> None:
    parts = allocate_exact(total, weights, "GBP")
    assert sum(parts, Decimal(0)) == total
    whole = sum(weights, Fraction(0))
    for part, weight in zip(parts, weights, strict=True):
        share = (Fraction(total) * weight / whole) if whole else Fraction(total) / len(weights)
        assert abs(Fraction(part) - share) < Fraction(1, 100)


@settings(max_examples=150, deadline=None)
@given(amounts, days, st.integers(min_value=1, max_value=2000),
       st.sampled_from(["ratable_daily", "ratable_monthly", "ratable_monthly_prorated"]))
def test_ratable_schedules_sum_to_the_net(net: Decimal, start: dt.date, length: int,
                                          method: str) -> None:
    end = start + dt.timedelta(days=length)
    line = PricedLine(OrderLine(0, "X", Decimal(1), period=Period(start, end)), {}, "one_off",
                      "b", "flat", None, net)
    order = Order("O", start, "GBP", "s", {"id": "C", "country": "GB"}, [line.order_line])
    weights = METHODS[method](line, order, None)
    periods = [p for p, _ in weights]
    assert periods == sorted(set(periods))  # one entry a month, in order
    assert periods[0] == f"{start:%Y-%m}"
    parts = allocate_exact(net, [w for _, w in weights], "GBP")
    assert sum(parts, Decimal(0)) == net
    if method == "ratable_daily":
        assert sum(w for _, w in weights) == length
    if method == "ratable_monthly_prorated":
        # whole calendar months weigh one month each; all weights make the month-equivalents
        months = month_equivalents(start, end)
        assert sum(w for _, w in weights) == months
        for (period, weight), part in zip(weights, parts, strict=True):
            first = dt.date(int(period[:4]), int(period[5:]), 1)
            following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
            if start <= first and following <= end:
                assert weight == 1
                # a whole month gets the monthly amount, give or take the last cent
                assert abs(Fraction(part) - Fraction(net) / months) < Fraction(1, 100)
            else:
                assert weight > 0


DEBIT_NORMAL = {"receivable": 1, "unbilled_receivable": 1, "deferred_revenue": -1,
                "tax_payable": -1, "revenue": -1}
months = st.integers(min_value=2024 * 12, max_value=2027 * 12 + 11).map(
    lambda i: f"{i // 12:04d}-{i % 12 + 1:02d}")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(months, st.integers(min_value=0, max_value=10**7), min_size=1,
                       max_size=30),
       st.integers(min_value=0, max_value=10**6), days)
def test_journal_balances_every_period_and_no_account_goes_negative(
        per_period: dict[str, int], tax: int, invoiced: dt.date) -> None:
    net = Decimal(sum(per_period.values())).scaleb(-2)
    totals = {"net": net, "tax": Decimal(tax).scaleb(-2), "total": net + Decimal(tax).scaleb(-2)}
    order = Order("O", invoiced, "GBP", "s", {"id": "C", "country": "GB"}, [])
    journal = journal_entries(order, per_period, totals, [])
    periods = [row["period"] for row in journal]
    assert periods == sorted(periods)
    per: dict[str, Decimal] = {}
    balance = dict.fromkeys(DEBIT_NORMAL, Decimal(0))
    for row in journal:
        debit, credit = Decimal(row["debit"]), Decimal(row["credit"])
        assert debit == 0 or credit == 0
        per[row["period"]] = per.get(row["period"], Decimal(0)) + debit - credit
        balance[row["account"]] += (debit - credit) * DEBIT_NORMAL[row["account"]]
        assert all(value >= 0 for value in balance.values()), (row, balance)
    assert set(per.values()) == {Decimal(0)}  # debits equal credits in every period
    assert balance == {"receivable": totals["total"], "unbilled_receivable": 0,
                       "deferred_revenue": 0, "tax_payable": totals["tax"], "revenue": net}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "A", "B"]), st.integers(0, 10**7),
                          st.integers(0, 10**7)), min_size=1, max_size=12))
def test_bundle_allocations_sum_to_the_bundle_net_by_ssp(
        specs: list[tuple[str, int, int]]) -> None:
    # (bundle, list amount, discount) per line, in pence; the discount at most the amount
    lines = [PricedLine(OrderLine(k, "X", Decimal(1), attributes={"bundle": b} if b else {}),
                        {}, "one_off", "book", "flat", None, Decimal(a).scaleb(-2),
                        discounts=[Discount("d", Decimal(min(a, d)).scaleb(-2))])
             for k, (b, a, d) in enumerate(specs)]
    amounts, docs = allocate_bundles(lines, "GBP", [])
    assert [d["line"] for d in docs] == [k for k, (b, _, _) in enumerate(specs) if b]
    for bundle in {b for b, _, _ in specs if b}:
        members = [k for k, (b, _, _) in enumerate(specs) if b == bundle]
        net = sum((lines[k].net for k in members), Decimal(0))
        assert sum((amounts[k] for k in members), Decimal(0)) == net
        ssp = sum((lines[k].amount for k in members), Decimal(0))
        for k in members:
            share = Fraction(net) * Fraction(lines[k].amount) / Fraction(ssp) if ssp else None
            if share is not None:
                assert abs(Fraction(amounts[k]) - share) < Fraction(1, 100)
