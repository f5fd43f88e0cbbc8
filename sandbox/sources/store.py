"""The service's own store: the orders behind issued invoices, by order date range.

A thin read-only adapter over the `invoice` and `invoice_void` tables (api/tables.py) through
SQLAlchemy, so the sandbox never imports the service. Rows stream with a server-side cursor
where the database has one. Each order is tagged `attributes.issued_invoice` with its invoice
number, which the PR check uses for "tax change on already-issued invoices". Voided invoices
are left out: they were withdrawn, so no policy change can affect them.

The service evaluates an invoice as of its issue date (the UTC day of `issued_at`), so each
record carries that day as `as_of`: replayed under the revision it was issued under, an
invoice comes out as issued, due date, windows and journal included.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import Diagnostic, Location, fail
from sandbox.sources import Record

INVOICES, VOIDS = "invoice", "invoice_void"
_QUERY = ("SELECT i.number, i.issued_at, i.order_json FROM {invoices} i WHERE NOT EXISTS "
          "(SELECT 1 FROM {voids} v WHERE v.invoice_id = i.id) {where} ORDER BY i.date, i.number")


def _date(value: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail("bad_source", f"{value!r} is not a date (YYYY-MM-DD)") from None


def issue_date(issued_at: Any) -> str | None:
    """The issue date of an invoice: the UTC day of `issued_at` (a datetime, or the text
    SQLite keeps; a time without a zone was stored as UTC), or None when it is neither."""
    if isinstance(issued_at, str):
        try:
            issued_at = dt.datetime.fromisoformat(issued_at)
        except ValueError:
            return None
    if not isinstance(issued_at, dt.datetime):
        return None
    if issued_at.tzinfo is None:
        issued_at = issued_at.replace(tzinfo=dt.UTC)
    return issued_at.astimezone(dt.UTC).date().isoformat()


class StoreSource:
    """Issued invoices' orders with `since <= order date < until` (ISO dates, both optional)."""

    def __init__(self, url: str, since: str = "", until: str = "", batch: int = 1000) -> None:
        self.url = url
        self.since = since
        self.until = until
        self._since, self._until = _date(since), _date(until)
        self.batch = batch
        self.total: int | None = None
        self.unit = "orders"
        # never show credentials that a URL may carry
        self.name = url.split("@")[-1] if "@" in url else url

    def records(self) -> Iterator[Record]:
        """One record per issued invoice that is not voided, numbered by order date (then invoice
        number), each as of its issue date."""
        try:
            engine = create_engine(self.url)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise fail("bad_source", f"cannot open {self.name}: {exc}") from None
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=self.batch)
                where = (" AND i.date >= :since" if self._since else "") + (
                    " AND i.date < :until" if self._until else "")
                params = {k: v for k, v in (("since", self._since), ("until", self._until)) if v}
                query = _QUERY.format(invoices=INVOICES, voids=VOIDS, where=where)
                rows = result.execute(text(query), params)
                for n, (number, issued_at, order_json) in enumerate(rows, start=1):
                    yield self._record(n, number, issued_at, order_json)
        except SQLAlchemyError as exc:
            raise fail("source_unreadable", f"cannot read issued invoices from {self.name}: "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
        finally:
            engine.dispose()

    def _record(self, n: int, number: str, issued_at: Any, order_json: str) -> Record:
        where = Location(f"{self.name}#invoice/{number}", n, 1)
        as_of = issue_date(issued_at)
        if as_of is None:
            return Record(n, issue=Diagnostic(
                "bad_invoice", f"issue time {str(issued_at)[:40]!r} is not a timestamp", where))
        try:
            order: Any = json.loads(order_json)
        except (TypeError, json.JSONDecodeError) as exc:
            return Record(n, issue=Diagnostic("bad_json", f"stored order is not JSON: {exc}",
                                              where))
        if not isinstance(order, dict):
            return Record(n, issue=Diagnostic("bad_order", "stored order is not an object",
                                              where))
        attributes = dict(order.get("attributes") or {})
        attributes["issued_invoice"] = str(number)
        order["attributes"] = attributes
        return Record(n, order=order, as_of=as_of)
