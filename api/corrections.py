"""Credit notes and voids: only as the invoice's own payment terms permit.

Rules come from the issued invoice document (`payment.credit_notes`, `payment.void`), so the
revision that issued the invoice decides, not the revision active today. Dates: a credit note
or a void is allowed up to and including the `until` date. Percentages are cumulative: all
credit notes of the invoice, this one included, against the invoice total.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session

from api import audit
from api.errors import ApiError
from api.issuing import allocate, load, note_resource, resource
from api.port import EnginePort
from api.tables import CreditNote, InvoiceVoid

DEFAULT_NOTE_FORMAT = "CN-{series}-{number:06d}"


def _minor_digits(amount: str) -> int:
    return len(amount.split(".", 1)[1]) if "." in amount else 0


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ApiError("invalid_amount", f"{field} is not a decimal string") from exc


def credit_note(session: Session, port: EnginePort, number: str, amount: str, reason: str,
                approved: bool, actor: str, now: dt.datetime,
                spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Issue a credit note against invoice `number`; returns the credit note resource."""
    row, notes, void = load(session, number, lock=True)
    doc = json.loads(row.invoice_json)
    if void is not None:
        raise ApiError("invoice_voided", "a voided invoice cannot be credited", status=409)
    rules = (doc.get("payment") or {}).get("credit_notes") or {}
    if not rules.get("allowed"):
        raise ApiError("credit_note_not_allowed", "the invoice's terms permit no credit notes")
    today = now.date()
    until = rules.get("until")
    if until and today > dt.date.fromisoformat(until):
        raise ApiError("credit_note_window_closed",
                       f"credit notes were possible until {until}")
    value = _decimal(amount, "amount")
    digits = _minor_digits(row.total)
    if value <= 0 or value.as_tuple().exponent < -digits:  # type: ignore[operator]
        raise ApiError("invalid_amount",
                       f"amount must be positive with at most {digits} decimal places")
    total = Decimal(row.total)
    credited = sum((Decimal(n.amount) for n in notes), Decimal(0)) + value
    percent = credited / total * 100 if total > 0 else Decimal("Infinity")
    max_percent = _decimal(rules.get("max_percent", "100"), "max_percent")
    if percent > max_percent or credited > total:
        raise ApiError("credit_note_exceeds_limit",
                       f"credit notes would total {percent:.2f}% of the invoice; the terms "
                       f"allow {max_percent}%")
    above = rules.get("approval_above_percent")
    if above is not None and percent > _decimal(above, "approval_above_percent") and not approved:
        raise ApiError("credit_note_needs_approval",
                       f"credit notes above {above}% of the invoice need approval "
                       "(set approved: true)")
    seq = allocate(session, f"{row.series}/credit-notes")
    fmt = {"series": row.series, "format": DEFAULT_NOTE_FORMAT, **(spec or {})}
    if spec and spec.get("format"):
        fmt["format"] = "CN-" + str(spec["format"])
    note_number = port.format_number(fmt, seq, today)
    amount_text = f"{value:.{digits}f}"
    note = CreditNote(number=note_number, invoice_id=row.id or 0, amount=amount_text,
                      reason=reason, approved=approved, created_at=now, actor=actor)
    session.add(note)
    session.flush()
    before = audit.digest(row.invoice_json + "".join(n.number for n in notes))
    after = audit.digest(row.invoice_json + "".join(n.number for n in [*notes, note]))
    audit.record(session, now, actor, "credit_note", number, reason or note_number, before, after)
    return {**note_resource(note), "invoice": number}


def void(session: Session, number: str, reason: str, actor: str,
         now: dt.datetime) -> dict[str, Any]:
    """Void invoice `number` (a separate row; the invoice is never edited)."""
    row, notes, existing = load(session, number, lock=True)
    if existing is not None:
        raise ApiError("already_voided", "the invoice is already void")
    if notes:
        raise ApiError("invoice_has_credit_notes",
                       "an invoice with credit notes cannot be voided", status=409)
    doc = json.loads(row.invoice_json)
    rules = (doc.get("payment") or {}).get("void") or {}
    if not rules.get("allowed"):
        raise ApiError("void_not_allowed", "the invoice's terms do not permit voiding")
    until = rules.get("until")
    if until and now.date() > dt.date.fromisoformat(until):
        raise ApiError("void_window_closed", f"the invoice could be voided until {until}")
    entry = InvoiceVoid(invoice_id=row.id or 0, reason=reason, created_at=now, actor=actor)
    session.add(entry)
    session.flush()
    audit.record(session, now, actor, "void", number, reason, audit.digest(row.invoice_json),
                 audit.digest(row.invoice_json + ":void"))
    return resource(row, notes, entry)
