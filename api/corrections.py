"""Credit notes and voids: only as the invoice's own payment terms permit.

Rules come from the issued invoice document (`payment.credit_notes`, `payment.void`), so the
revision that issued the invoice decides, not the revision active today. Windows run from
the invoice's issue date for the terms' `window_days`, up to and including the last day.
Percentages are cumulative: all credit notes of the invoice, this one included, against the
invoice total; requests waiting for approval count against the maximum too.

Above the terms' approval percent a credit note is not issued at once: it becomes a request
(`pending_approval`) that another principal with the approve permission approves (then it is
numbered and issued) or rejects. Nobody approves their own request.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any

from sqlmodel import Session, col, select

from api import audit
from api.auth import Principal
from api.credit_split import split
from api.errors import ApiError, detail
from api.idempotency import encode
from api.issuing import _iso, allocate, issue_date_of, load, note_resource, resource, windows
from api.port import EnginePort
from api.tables import CreditDecision, CreditNote, CreditRequest, Invoice, InvoiceVoid

DEFAULT_NOTE_FORMAT = "CN-{series}-{number:06d}"


def _minor_digits(amount: str) -> int:
    return len(amount.split(".", 1)[1]) if "." in amount else 0


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ApiError("invalid_amount", f"{field} is not a decimal string") from exc


def state_digest(row: Invoice, notes: list[CreditNote], void: InvoiceVoid | None) -> str:
    """A digest of an invoice's correctable state: its document, credit notes and void."""
    return audit.digest(encode({
        "number": row.number, "invoice": audit.digest(row.invoice_json),
        "credit_notes": [[n.number, n.amount] for n in notes], "voided": void is not None}))


def _pending(session: Session, invoice_id: int) -> list[CreditRequest]:
    decided = select(CreditDecision.request_id)
    return list(session.exec(select(CreditRequest).where(
        CreditRequest.invoice_id == invoice_id,
        col(CreditRequest.id).not_in(decided)).order_by(col(CreditRequest.id))))


def _at(loc: list[str | int], type_: str, message: str) -> list[dict[str, Any]]:
    return [detail(loc, type_, message)]


NUMBER: list[str | int] = ["path", "number"]  # the invoice (or credit note) a request names
AMOUNT: list[str | int] = ["body", "amount"]
REQUEST: list[str | int] = ["path", "request_id"]


def _check(row: Invoice, notes: list[CreditNote], void: InvoiceVoid | None,
           pending: list[CreditRequest], amount: str, at: dt.datetime,
           where: tuple[list[str | int], list[str | int]] = (NUMBER, AMOUNT)
           ) -> tuple[Decimal, bool]:
    """The credit note's amount, and whether it needs approval; refuses what the terms do
    not permit (`at` is when it was asked for). `where`: what in the request names the
    invoice and the amount (the error details' `loc`)."""
    invoice, asked_at = where
    doc = json.loads(row.invoice_json)
    if void is not None:
        raise ApiError("invoice_voided", "a voided invoice cannot be credited", status=409,
                       details=_at(invoice, "voided", "names a voided invoice"))
    rules = (doc.get("payment") or {}).get("credit_notes") or {}
    window = windows(doc, issue_date_of(row.issued_at))["credit_notes"]
    if not window["allowed"]:
        raise ApiError("credit_note_not_allowed", "the invoice's terms permit no credit notes",
                       details=_at(invoice, "not_allowed",
                                   "names an invoice whose terms permit no credit notes"))
    if window["until"] and at.date() > dt.date.fromisoformat(window["until"]):
        raise ApiError("credit_note_window_closed",
                       f"credit notes were possible until {window['until']}",
                       details=_at(invoice, "window_closed",
                                   "names an invoice past its credit note window"))
    value = _decimal(amount, "amount")
    digits = _minor_digits(row.total)
    if value <= 0 or value.as_tuple().exponent < -digits:  # type: ignore[operator]
        raise ApiError("invalid_amount",
                       f"amount must be positive with at most {digits} decimal places",
                       details=_at(asked_at, "invalid_amount", "must be positive with at most"
                                   f" {digits} decimal places"))
    total = Decimal(row.total)
    credited = sum((Decimal(n.amount) for n in notes), Decimal(0)) + value
    asked = credited + sum((Decimal(p.amount) for p in pending), Decimal(0))
    max_percent = _decimal(rules.get("max_percent", "100"), "max_percent")
    if total <= 0 or asked > total or asked / total * 100 > max_percent:
        # rounded up: a total just above the limit must not read as the limit itself
        shown = (asked / total * 100 if total > 0 else Decimal(0)).quantize(
            Decimal("0.01"), rounding=ROUND_UP)
        raise ApiError("credit_note_exceeds_limit",
                       f"credit notes (issued and awaiting approval) would total {shown}%"
                       f" of the invoice; the terms allow {max_percent}%",
                       details=_at(asked_at, "exceeds_limit",
                                   "takes the invoice's credit notes above what its terms"
                                   " allow"))
    above = rules.get("approval_above_percent")
    needs = above is not None and credited / total * 100 > _decimal(
        above, "approval_above_percent")
    return value, needs


def credit_note(session: Session, port: EnginePort, number: str, amount: str, reason: str,
                principal: Principal, now: dt.datetime) -> tuple[int, dict[str, Any]]:
    """Credit invoice `number`: 201 with the credit note, or 202 with a request awaiting
    approval when it takes the invoice above its terms' approval percent."""
    row, notes, void = load(session, number, lock=True)
    pending = _pending(session, row.id or 0)
    value, needs = _check(row, notes, void, pending, amount, now)
    digits = _minor_digits(row.total)
    if needs:
        request = CreditRequest(invoice_id=row.id or 0, amount=f"{value:.{digits}f}",
                                reason=reason, requested_by=principal.actor,
                                requester_key=principal.key_id, requested_at=now)
        session.add(request)
        session.flush()
        shown = request_resource(request, row, None)
        audit.record(session, now, principal.actor, "credit_note_requested", number, reason,
                     state_digest(row, notes, void), audit.digest(encode(shown)))
        return 202, shown
    note = _issue_note(session, port, row, notes, value, reason, principal.actor, "", None,
                       now)
    audit.record(session, now, principal.actor, "credit_note", number, reason,
                 state_digest(row, notes, void), state_digest(row, [*notes, note], void))
    return 201, note_resource(note, row.number, row.currency)


def _issue_note(session: Session, port: EnginePort, row: Invoice, notes: list[CreditNote],
                value: Decimal, reason: str, actor: str, approved_by: str,
                request_id: int | None, now: dt.datetime) -> CreditNote:
    digits = _minor_digits(row.total)
    before = sum((Decimal(n.amount) for n in notes), Decimal(0))
    amount_text = f"{value:.{digits}f}"
    parts = split(json.loads(row.invoice_json), f"{before:.{digits}f}", amount_text, digits)
    seq = allocate(session, f"{row.series}/credit-notes")
    fmt = {"series": row.series, "format": DEFAULT_NOTE_FORMAT}
    note_number = port.format_number(fmt, seq, issue_date_of(now))
    note = CreditNote(number=note_number, invoice_id=row.id or 0, amount=amount_text,
                      net=parts.net, tax=parts.tax, tax_lines=json.dumps(parts.tax_lines),
                      settles=before + value == Decimal(row.total), reason=reason,
                      approved=bool(approved_by), approved_by=approved_by,
                      request_id=request_id, created_at=now, actor=actor)
    session.add(note)
    session.flush()
    return note


def request_resource(request: CreditRequest, row: Invoice, decision: CreditDecision | None,
                     note: str | None = None) -> dict[str, Any]:
    """A credit note request as the API shows it."""
    status = "pending_approval" if decision is None else decision.decision
    return {"id": request.id, "invoice": row.number, "currency": row.currency,
            "amount": request.amount, "reason": request.reason, "status": status,
            "requested_by": request.requested_by, "requested_at": _iso(request.requested_at),
            "decided_by": decision.actor if decision else None,
            "decided_at": _iso(decision.at) if decision else None,
            "decision_reason": decision.reason if decision else None, "credit_note": note}


def load_request(session: Session, request_id: int
                 ) -> tuple[CreditRequest, Invoice, CreditDecision | None, str | None]:
    """A request with its invoice, decision and credit note number (404 when unknown)."""
    request = session.get(CreditRequest, request_id)
    if request is None:
        raise ApiError("not_found", "no credit note request has this id",
                       details=_at(REQUEST, "not_found", "names no credit note request"))
    row = session.get(Invoice, request.invoice_id)
    assert row is not None
    decision = session.exec(select(CreditDecision).where(
        CreditDecision.request_id == request_id)).first()
    note = session.exec(select(CreditNote.number).where(
        CreditNote.request_id == request_id)).first()
    return request, row, decision, note


def decide(session: Session, port: EnginePort, request_id: int, approve: bool, reason: str,
           principal: Principal, now: dt.datetime) -> tuple[int, dict[str, Any]]:
    """Approve (the credit note is issued, 201) or reject (200) a pending request."""
    request, row, _, _ = load_request(session, request_id)
    # the invoice's row is locked before the decision is read: decisions on its requests,
    # in any server process, take turns here, so a second one sees the first
    row, notes, void = load(session, row.number, lock=True)
    decision = session.exec(select(CreditDecision).where(
        CreditDecision.request_id == request_id)).first()
    if decision is not None:
        raise ApiError("already_decided", f"the request was {decision.decision} already",
                       status=409, details=_at(REQUEST, "already_decided",
                                               "names a request decided already"))
    if request.requester_key == principal.key_id:
        raise ApiError("forbidden", "a credit note request is approved or rejected by"
                       " another principal than the one who asked",
                       details=_at(REQUEST, "own_request", "names the caller's own request"))
    if approve:
        others = [p for p in _pending(session, row.id or 0) if p.id != request.id]
        value, _ = _check(row, notes, void, others, request.amount, request.requested_at,
                          (REQUEST, REQUEST))
    outcome = CreditDecision(request_id=request_id, decision="approved" if approve else
                             "rejected", reason=reason, actor=principal.actor, at=now)
    session.add(outcome)
    session.flush()
    if not approve:
        shown = request_resource(request, row, outcome)
        audit.record(session, now, principal.actor, "credit_note_rejected", row.number, reason,
                     state_digest(row, notes, void), state_digest(row, notes, void))
        return 200, shown
    note = _issue_note(session, port, row, notes, value, request.reason, request.requested_by,
                       principal.actor, request.id, now)
    audit.record(session, now, principal.actor, "credit_note", row.number,
                 f"{request.reason} (approved: {reason})", state_digest(row, notes, void),
                 state_digest(row, [*notes, note], void))
    return 201, note_resource(note, row.number, row.currency)


def load_note(session: Session, number: str) -> dict[str, Any]:
    """A credit note by its number (404 when unknown)."""
    note = session.exec(select(CreditNote).where(CreditNote.number == number)).first()
    if note is None:
        raise ApiError("not_found", "no credit note has this number",
                       details=_at(NUMBER, "not_found", "names no credit note"))
    row = session.get(Invoice, note.invoice_id)
    assert row is not None
    return note_resource(note, row.number, row.currency)


def void(session: Session, number: str, reason: str, actor: str,
         now: dt.datetime) -> dict[str, Any]:
    """Void invoice `number` (a separate row; the invoice is never edited)."""
    row, notes, existing = load(session, number, lock=True)
    if existing is not None:
        raise ApiError("already_voided", "the invoice is already void",
                       details=_at(NUMBER, "voided", "names a voided invoice"))
    if notes or _pending(session, row.id or 0):
        raise ApiError("invoice_has_credit_notes",
                       "an invoice with credit notes (or requests for them) cannot be voided",
                       status=409, details=_at(NUMBER, "has_credit_notes",
                                               "names an invoice with credit notes"))
    doc = json.loads(row.invoice_json)
    window = windows(doc, issue_date_of(row.issued_at))["void"]
    if not window["allowed"]:
        raise ApiError("void_not_allowed", "the invoice's terms do not permit voiding",
                       details=_at(NUMBER, "not_allowed",
                                   "names an invoice whose terms do not permit voiding"))
    if window["until"] and now.date() > dt.date.fromisoformat(window["until"]):
        raise ApiError("void_window_closed",
                       f"the invoice could be voided until {window['until']}",
                       details=_at(NUMBER, "window_closed",
                                   "names an invoice past its void window"))
    entry = InvoiceVoid(invoice_id=row.id or 0, reason=reason, created_at=now, actor=actor)
    session.add(entry)
    session.flush()
    audit.record(session, now, actor, "void", number, reason, state_digest(row, notes, None),
                 state_digest(row, notes, entry))
    return resource(row, notes, entry)
