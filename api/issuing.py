"""Issuing invoices: gapless numbers from a locked counter row, immutable rows, audit.

Everything one issue changes (counter, invoice, audit entry, idempotency record) is written in
one transaction, so a crash or a rollback at any point leaves no invoice and no gap.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from api import audit
from api.db import aware
from api.errors import ApiError
from api.port import EnginePort, InvoiceLike
from api.tables import CreditNote, Invoice, InvoiceVoid, SeriesCounter
from engine.bundle import Bundle

DEFAULT_FORMAT = "{series}-{number:06d}"
# fault injection for tests: called with (series, number) after the number is allocated
AfterAllocate = Callable[[str, int], None]


def allocate(session: Session, series: str) -> int:
    """The next number of `series`, from its counter row locked until the commit."""
    stmt = select(SeriesCounter).where(SeriesCounter.series == series).with_for_update()
    row = session.exec(stmt).first()
    if row is None:
        dialect = session.get_bind().dialect.name
        ins = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(ins(SeriesCounter).values(series=series, next_number=1)
                        .on_conflict_do_nothing())
        row = session.exec(stmt).one()
    number = row.next_number
    session.execute(update(SeriesCounter).where(col(SeriesCounter.series) == series)
                    .values(next_number=number + 1))
    session.expire(row)
    return number


def series_spec(bundle: Bundle, name: str) -> dict[str, Any]:
    """The InvoiceSeries spec called `name` (a plain default when the bundle has none)."""
    for doc in bundle.kind("InvoiceSeries"):
        if doc.spec.get("series") == name:
            return dict(doc.spec)
    return {"series": name, "format": DEFAULT_FORMAT}


def issue(session: Session, port: EnginePort, bundle: Bundle, invoice: InvoiceLike,
          order: dict[str, Any], actor: str, now: dt.datetime,
          after_allocate: AfterAllocate | None = None) -> dict[str, Any]:
    """Number and store an evaluated, unblocked invoice; returns the invoice resource."""
    doc = invoice.document
    series = str(doc.get("series") or "default")
    date = dt.date.fromisoformat(doc["date"])
    spec = series_spec(bundle, series)
    # everything that does not need the number is prepared before the counter row is locked
    canonical = invoice.canonical_json().decode()
    order_json = json.dumps(order, sort_keys=True, separators=(",", ":"))
    after = audit.digest(canonical)
    seq = allocate(session, series)
    if after_allocate is not None:
        after_allocate(series, seq)
    number = port.format_number(spec, seq, date)
    row = Invoice(number=number, series=series, seq=seq, order_id=str(doc.get("order_id", "")),
                  customer_id=str(doc.get("customer", {}).get("id", "")), date=date,
                  currency=str(doc.get("currency", "")),
                  total=str(doc.get("totals", {}).get("total", "0")),
                  revision=bundle.revision, digest=bundle.digest, issued_at=now, actor=actor,
                  order_json=order_json, invoice_json=canonical)
    session.add(row)
    session.flush()
    audit.record(session, now, actor, "issue", number, f"revision {bundle.revision}", "", after)
    return resource(row, [], None)


def resource(row: Invoice, notes: list[CreditNote], void: InvoiceVoid | None) -> dict[str, Any]:
    """The issued invoice as the API shows it."""
    return {
        "number": row.number,
        "series": row.series,
        "status": "voided" if void else ("credited" if notes else "issued"),
        "issued_at": _iso(row.issued_at),
        "revision": row.revision,
        "invoice": json.loads(row.invoice_json),
        "credit_notes": [note_resource(n) for n in notes],
        "void": None if void is None else {"at": _iso(void.created_at), "reason": void.reason},
    }


def summary(row: Invoice, voided: bool) -> dict[str, Any]:
    """One line of an invoice listing."""
    return {"number": row.number, "series": row.series, "customer_id": row.customer_id,
            "order_id": row.order_id, "date": row.date.isoformat(), "currency": row.currency,
            "total": row.total, "revision": row.revision, "issued_at": _iso(row.issued_at),
            "status": "voided" if voided else "issued"}


def note_resource(note: CreditNote) -> dict[str, Any]:
    """A credit note as the API shows it."""
    return {"number": note.number, "amount": note.amount, "reason": note.reason,
            "approved": note.approved, "created_at": _iso(note.created_at)}


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
        raise ApiError("invoice_not_found", f"no invoice numbered {number!r}")
    notes = list(session.exec(select(CreditNote).where(CreditNote.invoice_id == row.id)
                              .order_by(CreditNote.id)))  # type: ignore[arg-type]
    void = session.exec(select(InvoiceVoid).where(InvoiceVoid.invoice_id == row.id)).first()
    return row, notes, void
