"""Which sale an Online Retail cancellation cancels, as far as the data tells.

The export has no link from a cancellation (`C` invoice) to its sale. The heuristic, kept
conservative: for the cancellation's customer (never `guest`) and each of its StockCodes, the
latest sale invoice of that customer with that StockCode strictly before the cancellation
(by InvoiceDate, time of day included). A credit note is linked when every line that found a
sale found one of the same date; it then takes that sale's date for prices and tax.

Memory grows with the cancellations only: the first pass notes the (customer, StockCode) keys
cancellations use and when each was cancelled; the second keeps, per cancellation and key,
the latest earlier sale seen so far.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

GUEST = "guest"
LINKED, UNKNOWN, AMBIGUOUS = "linked", "unknown", "ambiguous"


@dataclass
class Links:
    """Cancellations' keys (first pass), then the latest earlier sale of each (second pass)."""

    # (customer, stock code) -> cancellation InvoiceNo -> when it was cancelled
    wanted: dict[tuple[str, str], dict[str, dt.datetime]] = field(default_factory=dict)
    # (cancellation InvoiceNo, stock code) -> (when, sale InvoiceNo) of the latest earlier sale
    found: dict[tuple[str, str], tuple[dt.datetime, str]] = field(default_factory=dict)

    def want(self, customer: str, stock: str, cancellation: str, when: dt.datetime) -> None:
        """Note a cancellation row of a known customer."""
        if customer == GUEST:
            return
        times = self.wanted.setdefault((customer, stock), {})
        if cancellation not in times or when < times[cancellation]:
            times[cancellation] = when

    def offer(self, customer: str, stock: str, sale: str, when: dt.datetime) -> None:
        """A sale row: keep it for the cancellations after it that it is the latest for."""
        for cancellation, cancelled in self.wanted.get((customer, stock), {}).items():
            if when < cancelled:
                key = (cancellation, stock)
                if key not in self.found or (when, sale) > self.found[key]:
                    self.found[key] = (when, sale)

    def link(self, order: dict[str, Any]) -> str | None:
        """Mark a credit note with what it cancels (`attributes.original`); return the
        cancellation's own date (its invoice date) when it takes its sale's date instead."""
        attributes = order["attributes"]
        matched: dict[str, set[str]] = {}  # sale date -> sale invoices
        if order["customer"]["id"] != GUEST:
            for line in order["lines"]:
                hit = self.found.get((order["id"], line["attributes"]["stock_code"]))
                if hit is not None:
                    matched.setdefault(hit[0].date().isoformat(), set()).add(hit[1])
        if len(matched) != 1:
            attributes["original"] = AMBIGUOUS if matched else UNKNOWN
            return None
        [(date, sales)] = matched.items()
        attributes.update(original=LINKED, original_invoice=",".join(sorted(sales)),
                          original_date=date)
        own = str(order["date"])
        order["date"] = date
        return own
