"""Importer for the UCI "Online Retail" exports: rows grouped into orders by InvoiceNo.

Both published shapes are read: comma-separated with `12/1/10 8:26` dates, and the
`;`-separated sample with extra index columns, `12/06/2010 10:08` / `2/20/11 11:39` dates and
`NA` for unknown customers. Dates are month-first in both (the data runs 2010-12 to 2011-12);
the workbook converted with pandas (`2010-12-01 08:26:00`, CustomerID `17850.0`) is read too.

Mapping (documented in sandbox/README.md):
- every row becomes a line of sku `RETAIL-GOODS` (the catch-all retail product of the example
  price book) with the StockCode and Description as the line description, the StockCode in
  `attributes.stock_code`, and UnitPrice as the `unit_price` override; currency GBP;
- the seller is the UK entity (`northwind-uk` unless told otherwise); customers are consumers,
  `NA` customers become `guest`; countries map to ISO 3166 codes (pycountry plus aliases);
- a cancellation (`C` prefix invoice, negative quantities) becomes a credit note: an order with
  positive quantities and `attributes.document = "credit_note"`, which the sandbox counts
  negatively in money aggregates (the engine never sees negative quantities);
- a credit note uses the VAT rate of the sale it cancels, so it is linked to that sale where
  the data allows (`sandbox.sources.retail_links`): for its customer (never `guest`) and each
  StockCode, the latest earlier sale of that customer with that StockCode. When every line
  that found a sale found one of the same date, the credit note is an order at that sale's
  date (prices, tax) replayed as of its own date (`Record.as_of`: payment terms, journal), with
  `attributes.original = "linked"`, `original_invoice` (the sale InvoiceNo, comma-separated
  when several of that date) and `original_date`. Otherwise it keeps its own date, with
  `attributes.original = "unknown"` (no earlier sale found, or a `guest` customer) or
  `"ambiguous"` (lines found sales of different dates);
- a bad row is reported with the line number where its record starts and left out; its
  invoice is still imported and marked `attributes.incomplete = "true"`. Nothing is dropped
  silently.

Streaming: a first pass notes where each invoice's last row is (a small index: one entry per
invoice) and the (customer, StockCode) keys of cancellations; when there are any, a second pass
finds the latest earlier sale for those keys only; the last pass yields each invoice as soon as
its last row is read. In a full export an invoice's rows are contiguous, so one invoice is held
at a time; a shuffled sample works too (a sale may come after its cancellation in the file).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any

import pycountry

from engine.errors import BillplaneError, Diagnostic, Location, fail
from sandbox.sources import Record
from sandbox.sources.jsonl import not_utf8
from sandbox.sources.retail_links import GUEST, Links

RETAIL_SKU = "RETAIL-GOODS"
COLUMNS = ("InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
           "CustomerID", "Country")
# names in the data that are not ISO 3166 short names
ALIASES = {"EIRE": "IE", "CHANNEL ISLANDS": "GG", "RSA": "ZA", "USA": "US",
           "CZECH REPUBLIC": "CZ", "UNITED STATES": "US"}
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
# the workbook's dates as pandas writes them (`2010-12-01 08:26:00`)
_ISO_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?$")
_INVOICE = re.compile(r"[A-Z]?\d+\Z")
_QUANTITY = re.compile(r"-?\d{1,9}\Z")
_PRICE = re.compile(r"-?\d{1,12}(?:\.\d{1,10})?\Z")
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
    """`12/1/10 8:26`, `12/06/2010 10:08` (month first) or `2010-12-01 08:26:00` -> date;
    None when not a date."""
    when = parse_timestamp(text)
    return None if when is None else when.date()


def parse_timestamp(text: str) -> dt.datetime | None:
    """An InvoiceDate with its time of day (midnight when it has none); None when not a date."""
    match = _DATE.match(text.strip())
    if match:
        month, day, year, hour, minute, second = (int(g or 0) for g in match.groups())
    else:
        match = _ISO_DATE.match(text.strip())
        if not match:
            return None
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    if year < 100:
        year += 2000
    try:
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def customer_id(text: str) -> str:
    """The CustomerID as the orders carry it: `17850.0` is `17850`, none (`NA`) is `guest`."""
    text = text.strip()
    if text.endswith(".0"):
        text = text[:-2]
    return text if text not in ("", "NA") else GUEST


@dataclass
class _Invoice:
    """An invoice being read: its first row's line, its order once a good row came."""

    line: int
    order: dict[str, Any] | None = None
    incomplete: bool = False
    rows: int = 0  # good rows, including those beyond MAX_LINES that are not kept


class _Reader:
    """CSV records of a file with the physical line each starts on and the bytes read."""

    def __init__(self, handle: IO[bytes], path: str) -> None:
        self.handle = handle
        self.path = path
        self.pos = 0
        self.undecodable: set[int] = set()
        first = handle.readline()
        not_utf8(first, path)
        self.pos = len(first)
        head = first.decode("utf-8-sig", errors="replace")
        self.delimiter = ";" if head.count(";") > head.count(",") else ","
        self._first = head
        self._lines = 0

    def _text(self) -> Iterator[str]:
        yield self._first
        self._lines = 1
        for data in self.handle:
            self.pos += len(data)
            self._lines += 1
            try:
                yield data.decode("utf-8")
            except UnicodeDecodeError:
                self.undecodable.add(self._lines)
                yield data.decode("utf-8", errors="replace")

    def records(self) -> Iterator[tuple[int, int, list[str]]]:
        """(first line, last line, fields) of each record, the header first."""
        reader = csv.reader(self._text(), delimiter=self.delimiter)
        done = 0
        try:
            for fields in reader:
                yield done + 1, reader.line_num, fields
                done = reader.line_num
        except csv.Error as exc:
            raise fail("bad_source", f"cannot read CSV: {exc}",
                       Location(self.path, done + 1, 1)) from None


class OnlineRetailSource:
    """Orders from an Online Retail CSV; bad rows are issue records with line numbers."""

    def __init__(self, path: str, seller: str = "northwind-uk", sku: str = RETAIL_SKU,
                 **_: Any) -> None:
        self.path = path
        self.name = path
        self.seller = seller
        self.sku = sku
        self.unit = "B"
        self._width = 0
        try:
            self.total: int | None = os.path.getsize(path)
        except OSError as exc:
            raise fail("source_unreadable", f"cannot read {path}: {exc.strerror}",
                       Location(path)) from None

    def _open(self) -> tuple[IO[bytes], _Reader, Iterator[tuple[int, int, list[str]]],
                             dict[str, int]]:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - closed by the caller
        except OSError as exc:
            raise fail("source_unreadable", f"cannot read {self.path}: {exc.strerror}",
                       Location(self.path)) from None
        try:
            reader = _Reader(handle, self.path)
        except BillplaneError:
            handle.close()
            raise
        rows = reader.records()
        _, _, header = next(rows, (1, 1, []))
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            handle.close()
            raise fail("bad_source", f"not an Online Retail export: missing {missing}",
                       Location(self.path, 1, 1))
        self._width = len(header)
        return handle, reader, rows, {c: header.index(c) for c in COLUMNS}

    def _rows(self) -> Iterator[dict[str, str]]:
        """The rows with every column (a pass that reads them, not the one that reports)."""
        handle, _, rows, index = self._open()
        with handle:
            for _, _, fields in rows:
                if len(fields) == self._width:
                    yield {c: fields[i].strip() for c, i in index.items()}

    def _index(self) -> tuple[dict[str, int], Links]:
        """Invoice number -> the line where its last record starts, and the keys of the
        cancellations (first pass)."""
        handle, _, rows, index = self._open()
        at, width = index["InvoiceNo"], self._width
        last: dict[str, int] = {}
        links = Links()
        with handle:
            for start, _, fields in rows:
                if len(fields) > at:
                    number = fields[at].strip()
                    last[number] = start
                    if number.startswith("C") and len(fields) == width:
                        row = {c: fields[i].strip() for c, i in index.items()}
                        when = parse_timestamp(row["InvoiceDate"])
                        if when is not None and row["StockCode"]:
                            links.want(customer_id(row["CustomerID"]), row["StockCode"],
                                       number, when)
        if links.wanted:  # second pass: the latest earlier sale for those keys only
            for row in self._rows():
                number, quantity = row["InvoiceNo"], row["Quantity"]
                if (_INVOICE.match(number) and not number.startswith("C")
                        and _QUANTITY.match(quantity) and int(quantity) > 0):
                    when = parse_timestamp(row["InvoiceDate"])
                    if when is not None:
                        links.offer(customer_id(row["CustomerID"]), row["StockCode"], number,
                                    when)
        return last, links

    def records(self) -> Iterator[Record]:
        """Bad rows as issues, in line order; each invoice as soon as its last row is read."""
        last, links = self._index()
        handle, reader, rows, index = self._open()
        width = self._width
        at = index["InvoiceNo"]
        open_: dict[str, _Invoice] = {}
        with handle:
            for start, end, fields in rows:
                if not any(f.strip() for f in fields):
                    continue
                number = fields[at].strip() if len(fields) > at else ""
                inv = open_.get(number)
                if inv is None:
                    inv = open_[number] = _Invoice(start)
                problem = self._problem(fields, width, start, end, reader)
                if problem is None:
                    row = {c: fields[i].strip() for c, i in index.items()}
                    problem = self._add(row, inv)
                if problem is not None:
                    inv.incomplete = True
                    yield Record(start, issue=self._diagnostic(start, *problem), pos=reader.pos)
                if last.get(number) == start:
                    done = self._finish(number, open_.pop(number), reader.pos, links)
                    if done is not None:
                        yield done

    def _problem(self, fields: list[str], width: int, start: int, end: int,
                 reader: _Reader) -> tuple[str, str] | None:
        if len(fields) != width:
            return "bad_row", f"expected {width} fields, got {len(fields)}"
        if reader.undecodable and any(n in reader.undecodable for n in range(start, end + 1)):
            return "bad_encoding", "the row is not UTF-8 text"
        return None

    def _finish(self, number: str, inv: _Invoice, pos: int, links: Links) -> Record | None:
        if inv.order is None:  # every row of it was bad: already reported row by row
            return None
        if inv.rows > MAX_LINES:
            return Record(inv.line, issue=self._diagnostic(
                inv.line, "too_many_lines",
                f"invoice {number} has {inv.rows} lines (at most {MAX_LINES})"), pos=pos)
        if inv.incomplete:
            inv.order["attributes"]["incomplete"] = "true"
        as_of = None
        if inv.order["attributes"].get("document") == "credit_note":
            as_of = links.link(inv.order)
        return Record(inv.line, order=inv.order, pos=pos, as_of=as_of)

    def _diagnostic(self, line: int, code: str, message: str) -> Diagnostic:
        return Diagnostic(code, message, Location(self.path, line, 1))

    def _add(self, row: dict[str, str], inv: _Invoice) -> tuple[str, str] | None:
        """Add one row to its invoice; return (code, message) when the row is bad."""
        number = row["InvoiceNo"]
        if not _INVOICE.match(number):
            return "bad_invoice_number", f"InvoiceNo {number!r} is not a number"
        cancel = number.startswith("C")
        if not _QUANTITY.match(row["Quantity"]):
            return "bad_quantity", f"Quantity {row['Quantity']!r} is not a whole number"
        quantity = int(row["Quantity"])
        if quantity == 0:
            return "bad_quantity", "Quantity is zero"
        if quantity < 0 and not cancel:
            return "not_a_sale", (f"negative Quantity {quantity} on invoice {number} "
                                  "(a stock adjustment, not a sale or a cancellation)")
        if quantity > 0 and cancel:
            return "bad_cancellation", f"positive Quantity {quantity} on cancellation {number}"
        if not _PRICE.match(row["UnitPrice"]):
            return "bad_price", f"UnitPrice {row['UnitPrice']!r} is not a decimal number"
        price = Decimal(row["UnitPrice"])
        if price < 0:
            return "bad_price", f"UnitPrice {row['UnitPrice']} must not be negative"
        date = parse_date(row["InvoiceDate"])
        if date is None:
            return "bad_date", (f"InvoiceDate {row['InvoiceDate']!r} is not M/D/YY[YY] H:MM "
                                "or YYYY-MM-DD HH:MM:SS")
        country = country_code(row["Country"])
        if country is None:
            return "unknown_country", f"Country {row['Country']!r} has no ISO 3166 code"
        code = row["StockCode"]
        if not code:
            return "bad_stock_code", "StockCode is empty"
        if inv.order is None:
            inv.order = self._order(number, date, row, country, cancel)
        inv.rows += 1
        if inv.rows > MAX_LINES:  # reported when the invoice ends; not kept in memory
            return None
        description = f"{code} {row['Description']}".strip()[:500]
        inv.order["lines"].append({
            "sku": self.sku if self.sku else code,
            "quantity": str(abs(quantity)),
            "unit_price": f"{price.normalize():f}" if price else "0",
            "description": description,
            "attributes": {"stock_code": code[:500]},
        })
        return None

    def _order(self, number: str, date: dt.date, row: dict[str, str], country: str,
               cancel: bool) -> dict[str, Any]:
        attributes = {"source": "online-retail", "invoice_no": number}
        if cancel:
            attributes["document"] = "credit_note"
        return {
            "id": number,
            "date": date.isoformat(),
            "currency": "GBP",
            "seller": self.seller,
            "customer": {"id": customer_id(row["CustomerID"]), "country": country,
                         "type": "consumer"},
            "lines": [],
            "attributes": attributes,
        }
