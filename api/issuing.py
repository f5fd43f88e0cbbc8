"""Issuing invoices: gapless numbers from a locked counter row, immutable rows, audit.

Everything one issue changes (counter, invoice, audit entry, idempotency record) is written in
one transaction, so a crash or a rollback at any point leaves no invoice and no gap.

An invoice's issue date is the day it is issued (the service clock, UTC); the number's date
parts and the credit-note and void windows run from it. The order's date stays what the
engine priced and taxed by (the supply date, `invoice.date` in the document).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from api import audit
from api.db import aware
from api.errors import ApiError, detail
from api.port import EnginePort, InvoiceLike
from api.tables import AuditEntry, CreditNote, Invoice, InvoiceVoid, SeriesCounter, table_of
from engine.bundle import Bundle

DEFAULT_FORMAT = "{series}-{number:06d}"
# fault injection for tests: called with (series, number) after the number is allocated
AfterAllocate = Callable[[str, int], None]


_COUNTER = table_of(SeriesCounter)
_INVOICE = table_of(Invoice)
_AUDIT = table_of(AuditEntry)
# one statement locks the counter row (until the commit), bumps it and reads the number
_BUMP = (update(_COUNTER).where(_COUNTER.c.series == bindparam("s"))
         .values(next_number=_COUNTER.c.next_number + 1)
         .returning(_COUNTER.c.next_number - 1))
# built once: per call only the parameters change (no statement to build, key or compile)
_INSERT_INVOICE = insert(_INVOICE)
_INSERT_AUDIT = insert(_AUDIT)


def _params(table: Any, prefix: str) -> dict[str, Any]:
    return {c.name: bindparam(prefix + c.name, type_=c.type) for c in table.c if c.name != "id"}


# PostgreSQL writes both rows in one statement: one round trip fewer while the counter row
# is locked (a data-modifying WITH; SQLite has none)
_INSERT_BOTH = (insert(_AUDIT).values(_params(_AUDIT, "a_"))
                .add_cte(insert(_INVOICE).values(_params(_INVOICE, "i_")).cte("issued")))


def allocate(session: Session, series: str) -> int:
    """The next number of `series`, from its counter row locked until the commit."""
    conn = session.connection()
    number = conn.execute(_BUMP, {"s": series}).scalar()
    if number is None:
        # the series' first number: create its counter (a concurrent creator may win)
        ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(ins(_COUNTER).values(series=series, next_number=1)
                     .on_conflict_do_nothing())
        number = conn.execute(_BUMP, {"s": series}).scalar_one()
    return int(number)


def series_spec(bundle: Bundle, name: str) -> dict[str, Any]:
    """The InvoiceSeries spec called `name` (a plain default when the bundle has none)."""
    for doc in bundle.kind("InvoiceSeries"):
        if doc.spec.get("series") == name:
            return dict(doc.spec)
    return {"series": name, "format": DEFAULT_FORMAT}


def issue(session: Session, port: EnginePort, bundle: Bundle, invoice: InvoiceLike,
          order: dict[str, Any], actor: str, now: dt.datetime,
          after_allocate: AfterAllocate | None = None) -> bytes:
    """Number and store an evaluated, unblocked invoice; returns the invoice resource as
    response bytes (what `idempotency.encode(resource(...))` gives, without re-parsing)."""
    doc = invoice.document
    series = str(doc.get("series") or "default")
    date = dt.date.fromisoformat(doc["date"])
    issue_date = issue_date_of(now)
    spec = series_spec(bundle, series)
    # everything that does not need the number is prepared before the counter row is locked
    canonical = invoice.canonical_json()
    text = canonical.decode()
    order_json = json.dumps(order, sort_keys=True, separators=(",", ":"))
    values = {"series": series, "order_id": str(doc.get("order_id", "")),
              "customer_id": str(doc.get("customer", {}).get("id", "")), "date": date,
              "currency": str(doc.get("currency", "")),
              "total": str(doc.get("totals", {}).get("total", "0")),
              "revision": bundle.revision, "digest": bundle.digest, "issued_at": now,
              "actor": actor, "order_json": order_json, "invoice_json": text}
    seq = allocate(session, series)
    if after_allocate is not None:
        after_allocate(series, seq)
    number = port.format_number(spec, seq, issue_date)
    body = issued_bytes(canonical, number, series, now, bundle.revision, doc)
    row = {"number": number, "seq": seq, **values}
    # the digest covers what was issued: number, issue time, revision and document
    entry = {"at": now, "actor": actor, "action": "issue", "subject": number[:200],
             "reason": f"revision {bundle.revision}", "before_digest": "",
             "after_digest": audit.digest(body)}
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(_INSERT_BOTH, {**{"i_" + k: v for k, v in row.items()},
                                    **{"a_" + k: v for k, v in entry.items()}})
    else:
        conn.execute(_INSERT_INVOICE, row)
        conn.execute(_INSERT_AUDIT, entry)
    return body


def issue_date_of(issued_at: dt.datetime) -> dt.date:
    """The invoice's issue date: the UTC day it was issued."""
    return aware(issued_at).astimezone(dt.UTC).date()


def windows(document: dict[str, Any], issue_date: dt.date) -> dict[str, Any]:
    """Whether and until when (inclusive) credit notes and a void are possible: the
    invoice's terms give the number of days, counted from the issue date."""
    payment = document.get("payment") or {}
    out: dict[str, Any] = {}
    for name in ("credit_notes", "void"):
        rule = payment.get(name) or {}
        allowed = bool(rule.get("allowed"))
        days = rule.get("window_days")
        until = (issue_date + dt.timedelta(days=int(days))).isoformat() if (
            allowed and days is not None) else None
        out[name] = {"allowed": allowed, "until": until}
    return out


STATUSES = ("issued", "partially_credited", "credited", "voided")


def status_of(notes: list[CreditNote], void: InvoiceVoid | None) -> str:
    """One of STATUSES: voided, credited (a credit note settled it), partially_credited."""
    if void is not None:
        return "voided"
    if any(n.settles for n in notes):
        return "credited"
    return "partially_credited" if notes else "issued"


def _rest(number: str, series: str, issued_at: dt.datetime, revision: str,
          document: dict[str, Any], status: str, void: dict[str, Any] | None
          ) -> dict[str, Any]:
    """The resource's fields after "invoice" in key order."""
    issue_date = issue_date_of(issued_at)
    return {"issue_date": issue_date.isoformat(), "issued_at": _iso(issued_at),
            "number": number, "revision": revision, "series": series, "status": status,
            "void": void, "windows": windows(document, issue_date)}


def issued_bytes(canonical: bytes, number: str, series: str, issued_at: dt.datetime,
                 revision: str, document: dict[str, Any]) -> bytes:
    """`encode(resource(...))` of a just-issued invoice, splicing in its canonical JSON.

    `encode` sorts keys and the canonical invoice is already sorted and compact, so the
    invoice bytes go in as they are: "credit_notes" < "invoice" < every other key.
    """
    rest = _rest(number, series, issued_at, revision, document, "issued", None)
    tail = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b'{"credit_notes":[],"invoice":' + canonical + b"," + tail[1:].encode()


def resource(row: Invoice, notes: list[CreditNote], void: InvoiceVoid | None) -> dict[str, Any]:
    """The issued invoice as the API shows it."""
    document = json.loads(row.invoice_json)
    voided = None if void is None else {"at": _iso(void.created_at), "reason": void.reason}
    return {"invoice": document,
            "credit_notes": [note_resource(n, row.number, row.currency) for n in notes],
            **_rest(row.number, row.series, row.issued_at, row.revision, document,
                    status_of(notes, void), voided)}


def summary(row: Invoice, status: str) -> dict[str, Any]:
    """One line of an invoice listing."""
    return {"number": row.number, "series": row.series, "customer_id": row.customer_id,
            "order_id": row.order_id, "order_date": row.date.isoformat(),
            "issue_date": issue_date_of(row.issued_at).isoformat(), "currency": row.currency,
            "total": row.total, "revision": row.revision, "issued_at": _iso(row.issued_at),
            "status": status}


def note_resource(note: CreditNote, invoice: str, currency: str) -> dict[str, Any]:
    """A credit note as the API shows it (net and tax are null for notes stored before the
    split was recorded)."""
    return {"number": note.number, "invoice": invoice, "currency": currency,
            "amount": note.amount, "net": note.net or None, "tax": note.tax or None,
            "tax_lines": [{"exemption": "", "reason": "", **t}  # older notes lack the two
                          for t in json.loads(note.tax_lines or "[]")],
            "reason": note.reason,
            "settles": note.settles, "approved_by": note.approved_by or None,
            "requested_by": note.actor, "created_at": _iso(note.created_at)}


def _iso(value: dt.datetime) -> str:
    return aware(value).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def load(session: Session, number: str, lock: bool = False
         ) -> tuple[Invoice, list[CreditNote], InvoiceVoid | None]:
    """An issued invoice with its credit notes and void (404 when unknown)."""
    stmt = select(Invoice).where(Invoice.number == number)
    if lock:
        stmt = stmt.with_for_update()
    row = session.exec(stmt).first()
    if row is None:
        raise ApiError("invoice_not_found", "no invoice has this number",
                       details=[detail(["path", "number"], "not_found", "names no invoice")])
    notes = list(session.exec(select(CreditNote).where(CreditNote.invoice_id == row.id)
                              .order_by(CreditNote.id)))  # type: ignore[arg-type]
    void = session.exec(select(InvoiceVoid).where(InvoiceVoid.invoice_id == row.id)).first()
    return row, notes, void
