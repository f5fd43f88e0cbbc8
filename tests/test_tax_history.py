"""Real VAT histories (tests/data/vat, commerceguys/tax): every standard-rate change applies
exactly from its start date, and the day before keeps the old rate."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.context import CelScope
from engine.loader import load_bundle
from engine.model import PricedLine, TraceEntry
from engine.money import exponent
from engine.order import parse_order
from engine.tax import apply_taxes

DATA = Path(__file__).resolve().parent / "data" / "vat"
COUNTRIES = {"gb": ("GB", "GBP"), "de": ("DE", "EUR"), "ie": ("IE", "EUR")}


def _periods(code: str) -> list[tuple[Decimal, dt.date, dt.date | None]]:
    data = json.loads((DATA / f"{code}_vat.json").read_text("utf-8"), parse_float=Decimal)
    standard = next(r for r in data["rates"] if r.get("default"))
    out = []
    for amount in standard["amounts"]:
        end = amount.get("end_date")
        out.append((Decimal(amount["amount"]) * 100, dt.date.fromisoformat(amount["start_date"]),
                    dt.date.fromisoformat(end) if end else None))
    return out


def _policy(code: str) -> str:
    country, _ = COUNTRIES[code]
    rates = []
    for rate, start, end in _periods(code):
        until = f", until: {end + dt.timedelta(days=1)}" if end else ""  # inclusive -> exclusive
        rates.append(f"    - {{rate: {rate.normalize():f}, effective: {{from: {start}{until}}}}}")
    return (f"apiVersion: billplane.dev/v1\nkind: TaxRule\nmetadata: {{name: {code}-vat}}\n"
            f"spec:\n  tax: vat\n  jurisdiction: {{country: {country}}}\n  rates:\n"
            + "\n".join(rates) + "\n")


def _tax_on(code: str, day: dt.date) -> tuple[str, Decimal]:
    country, currency = COUNTRIES[code]
    bundle = load_bundle({"vat.yaml": _policy(code).encode()})
    order = parse_order({"id": "O", "date": day.isoformat(), "currency": currency,
                         "seller": "s", "customer": {"id": "C", "country": country},
                         "lines": [{"sku": "X", "quantity": "1"}]})
    line = PricedLine(order.lines[0], {}, "one_off", "case", "flat", None, Decimal("100.00"))
    scope = CelScope(bundle, order)
    scope.set_line_amounts([line], exponent(currency))
    trace: list[TraceEntry] = []
    apply_taxes(bundle, order, [line], scope, trace)
    return f"{line.taxes[0].rate:f}", line.taxes[0].amount


def _switches() -> list[tuple[str, Decimal, Decimal, dt.date]]:
    found = []
    for code in COUNTRIES:
        periods = _periods(code)
        for (old, _, _), (new, start, _) in zip(periods, periods[1:], strict=False):
            found.append((code, old, new, start))
    return found


SWITCHES = _switches()


def test_histories_have_the_known_uk_changes() -> None:
    uk = [(f"{old.normalize():f}", f"{new.normalize():f}", start.isoformat())
          for code, old, new, start in SWITCHES if code == "gb"]
    assert uk == [("17.5", "15", "2008-12-01"), ("15", "17.5", "2010-01-01"),
                  ("17.5", "20", "2011-01-04")]


@pytest.mark.parametrize("code,old,new,start", SWITCHES,
                         ids=[f"{c}-{s}" for c, _, _, s in SWITCHES])
def test_rate_switches_on_its_start_date(code: str, old: Decimal, new: Decimal,
                                         start: dt.date) -> None:
    # 100.00 at r% is r.00 exactly: the amount is the rate itself, in currency units
    rate_before, tax_before = _tax_on(code, start - dt.timedelta(days=1))
    rate_on, tax_on = _tax_on(code, start)
    assert Decimal(rate_before) == old and tax_before == old.quantize(Decimal("0.01"))
    assert Decimal(rate_on) == new and tax_on == new.quantize(Decimal("0.01"))
