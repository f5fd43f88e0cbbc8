"""Importer for the UCI "Online Retail" exports: rows grouped into orders by InvoiceNo.

Both published shapes are read: comma-separated with `12/1/10 8:26` dates, and the
`;`-separated sample with extra index columns, `12/06/2010 10:08` / `2/20/11 11:39` dates and
`NA` for unknown customers. Dates are month-first in both (the data runs 2010-12 to 2011-12).

Mapping (documented in docs/sandbox.md):
- every row becomes a line of sku `RETAIL-GOODS` (the catch-all retail product of the example
  price book) with the StockCode and Description as the line description, the StockCode in
  `attributes.stock_code`, and UnitPrice as the `unit_price` override; currency GBP;
- the seller is the UK entity (`northwind-uk` unless told otherwise); customers are consumers,
  `NA` customers become `guest`; countries map to ISO 3166 codes (pycountry plus aliases);
- a cancellation (`C` prefix invoice, negative quantities) becomes a credit note: an order with
  positive quantities and `attributes.document = "credit_note"`, which the sandbox counts
  negatively in money aggregates (the engine never sees negative quantities);
- a bad row is reported with its line number and left out; its invoice is still imported and
  marked `attributes.incomplete = "true"`. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pycountry

from engine.errors import Diagnostic, Location, fail
from sandbox.sources import Record

RETAIL_SKU = "RETAIL-GOODS"
COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country")
# names in the data that are not ISO 3166 short names
ALIASES = {"EIRE": "IE", "CHANNEL ISLANDS": "GG", "RSA": "ZA", "USA": "US",
           "CZECH REPUBLIC": "CZ", "UNITED STATES": "US"}
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?$")
MAX_LINES = 1000


@lru_cache(maxsize=512)
def country_code(name: str) -> str | None:
    """ISO 3166-1 alpha-2 for a country name of the data set, or None when unknown."""
    key = name.strip().upper()
    if key in ALIASES:
        return ALIASES[key]
    try:
        return str(pycountry.countries.lookup(name.strip()).alpha_2)
    except LookupError:
        return None


def parse_date(text: str) -> dt.date | None:
    """`12/1/10 8:26`, `12/06/2010 10:08` (month first) -> date; None when not a date."""
    match = _DATE.match(text.strip())
    if not match:
        return None
    month, day, year = (int(g) for g in match.groups())
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


class OnlineRetailSource:
    """Orders from an Online Retail CSV; `issues` are reported as records with line numbers."""

    def __init__(self, path: str, seller: str = "northwind-uk", sku: str = RETAIL_SKU,
                 **_: Any) -> None:
        self.path = path
        self.name = path
        self.seller = seller
        self.sku = sku

    def records(self) -> Iterator[Record]:
        """Bad rows first (in line order), then one order per invoice by (date, invoice)."""
        try:
            handle = open(self.path, newline="", encoding="utf-8-sig")  # noqa: SIM115
        except OSError as exc:
            raise fail("source_unreadable", f"cannot read {self.path}: {exc.strerror}",
                       Location(self.path)) from None
        with handle:
            issues, invoices = self._read(handle)
        yield from issues
        for inv in sorted(invoices.values(), key=lambda o: (o["date"], o["id"])):
            line = inv.pop("_line")
            yield Record(line, order=inv)

    def _read(self, handle: Any) -> tuple[list[Record], dict[str, dict[str, Any]]]:
        head = handle.readline()
        delimiter = ";" if head.count(";") > head.count(",") else ","
        header = next(csv.reader([head], delimiter=delimiter))
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise fail("bad_source", f"not an Online Retail export: missing {missing}",
                       Location(self.path, 1, 1))
        index = {c: header.index(c) for c in COLUMNS}
        issues: list[Record] = []
        invoices: dict[str, dict[str, Any]] = {}
        reader = csv.reader(handle, delimiter=delimiter)
        for fields in reader:
            line = reader.line_num + 1  # the header was read before the reader started
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(header):
                issues.append(self._issue(line, "bad_row", f"expected {len(header)} fields, "
                                          f"got {len(fields)}"))
                continue
            row = {c: fields[i].strip() for c, i in index.items()}
            problem = self._add(row, line, invoices)
            if problem:
                issues.append(self._issue(line, *problem))
                inv = invoices.get(row["InvoiceNo"])
                if inv is not None:
                    inv["attributes"]["incomplete"] = "true"
        for number, inv in list(invoices.items()):
            if not inv["lines"]:  # every row of it was bad: already reported row by row
                del invoices[number]
            elif len(inv["lines"]) > MAX_LINES:
                issues.append(self._issue(inv["_line"], "too_many_lines",
                                          f"invoice {number} has {len(inv['lines'])} lines "
                                          f"(at most {MAX_LINES})"))
                del invoices[number]
        return issues, invoices

    def _issue(self, line: int, code: str, message: str) -> Record:
        return Record(line, issue=Diagnostic(code, message, Location(self.path, line, 1)))

    def _add(self, row: dict[str, str], line: int,
             invoices: dict[str, dict[str, Any]]) -> tuple[str, str] | None:
        """Add one row to its invoice; return (code, message) when the row is bad."""
        number = row["InvoiceNo"]
        if not re.fullmatch(r"[A-Z]?\d+", number):
            return "bad_invoice_number", f"InvoiceNo {number!r} is not a number"
        cancel = number.startswith("C")
        try:
            quantity = int(row["Quantity"])
        except ValueError:
            return "bad_quantity", f"Quantity {row['Quantity']!r} is not a whole number"
        if quantity == 0:
            return "bad_quantity", "Quantity is zero"
        if quantity < 0 and not cancel:
            return "not_a_sale", (f"negative Quantity {quantity} on invoice {number} "
                                  "(a stock adjustment, not a sale or a cancellation)")
        if quantity > 0 and cancel:
            return "bad_cancellation", f"positive Quantity {quantity} on cancellation {number}"
        try:
            price = Decimal(row["UnitPrice"])
        except InvalidOperation:
            return "bad_price", f"UnitPrice {row['UnitPrice']!r} is not a number"
        if not price.is_finite() or price < 0:
            return "bad_price", f"UnitPrice {row['UnitPrice']} must not be negative"
        date = parse_date(row["InvoiceDate"])
        if date is None:
            return "bad_date", f"InvoiceDate {row['InvoiceDate']!r} is not M/D/YY[YY] H:MM"
        country = country_code(row["Country"])
        if country is None:
            return "unknown_country", f"Country {row['Country']!r} has no ISO 3166 code"
        code = row["StockCode"]
        if not code:
            return "bad_stock_code", "StockCode is empty"
        inv = invoices.get(number)
        if inv is None:
            inv = invoices[number] = self._order(number, date, row, country, cancel, line)
        description = f"{code} {row['Description']}".strip()[:500]
        inv["lines"].append({
            "sku": self.sku if self.sku else code,
            "quantity": str(abs(quantity)),
            "unit_price": f"{price.normalize():f}" if price else "0",
            "description": description,
            "attributes": {"stock_code": code[:500]},
        })
        return None

    def _order(self, number: str, date: dt.date, row: dict[str, str], country: str,
               cancel: bool, line: int) -> dict[str, Any]:
        customer = row["CustomerID"]
        if customer.endswith(".0"):
            customer = customer[:-2]
        attributes = {"source": "online-retail", "invoice_no": number}
        if cancel:
            attributes["document"] = "credit_note"
        return {
            "id": number,
            "date": date.isoformat(),
            "currency": "GBP",
            "seller": self.seller,
            "customer": {"id": customer if customer not in ("", "NA") else "guest",
                         "country": country, "type": "consumer"},
            "lines": [],
            "attributes": attributes,
            "_line": line,
        }
