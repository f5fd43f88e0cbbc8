"""InvoiceSeries selection (seller, when, priority) and number formats."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from test_tax_support import build

from engine.errors import BillplaneError
from engine.series import format_number, format_problems, select_series

SERIES = """\
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: uk-eur}
spec: {seller: acme-uk, series: UKE, format: "UKE-{number:05d}", priority: 10,
       when: "order.currency == 'EUR'"}
---
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: uk-main}
spec: {seller: acme-uk, series: UK, format: "UK-{year}-{number:06d}", priority: 100}
---
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: aa-uk-late}
spec: {seller: acme-uk, series: LATE, format: "L{number}", priority: 500,
       when: "order.currency == 'GBP'"}
---
apiVersion: billplane.dev/v1
kind: InvoiceSeries
metadata: {name: us-main}
spec: {seller: acme-us, series: US, format: "US{number}"}
"""


def _series(seller: str, currency: str) -> str:
    case: dict[str, Any] = {"policies": SERIES, "order": {
        "id": "O", "date": "2026-03-01", "currency": currency, "seller": seller,
        "customer": {"id": "C", "country": "GB"}, "lines": [{"sku": "X", "quantity": "1"}]}}
    bundle, order, _, scope = build(case)
    return select_series(bundle, order, scope)


def test_first_matching_series_by_priority() -> None:
    assert _series("acme-uk", "EUR") == "UKE"
    assert _series("acme-uk", "GBP") == "UK"  # uk-eur's when is false; priority 100 < 500


def test_series_of_the_seller_only() -> None:
    assert _series("acme-us", "GBP") == "US"
    assert _series("acme-de", "GBP") == ""


def test_format_number() -> None:
    spec = {"series": "UK", "format": "UK-{year}-{number:06d}"}
    assert format_number(spec, 42, dt.date(2026, 3, 1)) == "UK-2026-000042"
    spec = {"series": "IE", "format": "{series}/{year}/{month:02d}/{number}"}
    assert format_number(spec, 7, dt.date(2027, 1, 31)) == "IE/2027/01/7"


@pytest.mark.parametrize("text", ["INV-{year}", "{number.__class__}", "{number[0]}",
                                  "{nonce}-{number}", "{number:06q}", "{number"])
def test_bad_formats_are_refused(text: str) -> None:
    assert format_problems(text)
    with pytest.raises(BillplaneError) as info:
        format_number({"series": "S", "format": text}, 1, dt.date(2026, 1, 1))
    assert info.value.code == "invalid_series_format"
