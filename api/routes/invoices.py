"""Invoice endpoints: evaluate (draft), issue, read, list, credit notes, void."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import exists
from sqlmodel import col, select

from api import corrections, idempotency, issuing
from api.auth import Principal
from api.deps import Services, SvcDep, active_policy, allowed
from api.errors import ApiError, error_responses
from api.port import InvoiceLike
from api.tables import Invoice, InvoiceVoid
from engine.bundle import Bundle
from engine.errors import BillplaneError

router = APIRouter(prefix="/v1", tags=["invoices"])
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
DECIMAL = r"^[0-9]{1,15}(\.[0-9]{1,10})?$"


class EvaluateRequest(BaseModel):
    """An order to evaluate (see the order schema), optionally as of a date."""

    order: dict[str, Any]
    as_of: str | None = Field(default=None, pattern=DATE)
    ref: str | None = Field(default=None, max_length=200,
                            description="sandbox mode only: a git ref of the followed repository")


class IssueRequest(BaseModel):
    """An order to issue an invoice for."""

    order: dict[str, Any]
    as_of: str | None = Field(default=None, pattern=DATE)


class Evaluation(BaseModel):
    """A draft invoice: nothing is stored."""

    revision: str
    blocked: bool
    invoice: dict[str, Any]


class InvoiceResource(BaseModel):
    """An issued invoice."""

    number: str
    series: str
    status: str
    issued_at: str
    revision: str
    invoice: dict[str, Any]
    credit_notes: list[dict[str, Any]]
    void: dict[str, Any] | None


class InvoicePage(BaseModel):
    """A page of invoice summaries; pass `next_cursor` as `cursor` for the next."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class CreditNoteRequest(BaseModel):
    """A credit note: a positive amount in the invoice currency."""

    amount: str = Field(pattern=DECIMAL)
    reason: str = Field(default="", max_length=500)
    approved: bool = Field(default=False, description="required above the approval percent")


class CreditNoteResource(BaseModel):
    """An issued credit note."""

    number: str
    invoice: str
    amount: str
    reason: str
    approved: bool
    created_at: str


class VoidRequest(BaseModel):
    """Why the invoice is voided."""

    reason: str = Field(default="", max_length=500)


def _json(outcome: idempotency.Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, status_code=outcome.status, media_type="application/json",
                    headers=headers)


def _evaluate(svc: Services, bundle: Bundle, order: dict[str, Any],
              as_of: str | None) -> InvoiceLike:
    lines = order.get("lines")
    if isinstance(lines, list) and len(lines) > svc.settings.max_lines:
        raise ApiError("too_many_lines",
                       f"an order has at most {svc.settings.max_lines} lines", status=422)
    try:
        invoice = svc.port.evaluate(bundle, order, as_of)
    except BillplaneError:
        svc.metrics.evaluations.labels("invalid").inc()
        raise
    svc.metrics.evaluations.labels("blocked" if invoice.blocked else "ok").inc()
    return invoice


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise ApiError("invalid_request", f"{name} is not a calendar date") from exc


def _blocked(invoice: InvoiceLike) -> ApiError:
    errors = [v for v in invoice.document.get("violations", []) if v.get("severity") == "error"]
    return ApiError("invoice_blocked", "error violations block issuance", details=errors)


@router.post("/invoices/evaluate", response_model=Evaluation,
             responses=error_responses(401, 403, 404, 413, 422, 503))
def evaluate(body: EvaluateRequest, svc: SvcDep,
             _: Annotated[Principal, Depends(allowed("evaluate"))]) -> Response:
    """Evaluate an order into a draft invoice under the active revision (stores nothing)."""
    if body.ref is not None:
        if not svc.settings.sandbox:
            raise ApiError("ref_not_allowed", "`ref` is accepted in sandbox mode only")
        bundle = svc.policy.sandbox_bundle(body.ref)
    else:
        bundle = active_policy(svc).bundle
    invoice = _evaluate(svc, bundle, body.order, body.as_of)
    return _json(idempotency.Outcome(200, evaluation_bytes(invoice, bundle.revision)))


def evaluation_bytes(invoice: InvoiceLike, revision: str) -> bytes:
    """`encode({"revision", "blocked", "invoice"})`, splicing in the canonical invoice bytes
    (already sorted and compact) instead of serialising the document again."""
    blocked = b"true" if invoice.blocked else b"false"
    rev = json.dumps(revision, ensure_ascii=False).encode()
    return (b'{"blocked":' + blocked + b',"invoice":' + invoice.canonical_json()
            + b',"revision":' + rev + b"}")


@router.post("/invoices", status_code=201, response_model=InvoiceResource,
             responses=error_responses(401, 403, 409, 413, 422, 503))
def issue(body: IssueRequest, svc: SvcDep,
          principal: Annotated[Principal, Depends(allowed("issue"))],
          idempotency_key: Annotated[str | None, Header(max_length=255)] = None) -> Response:
    """Issue an invoice: evaluate, refuse on error violations, number it, store it."""
    svc.maybe_purge()
    now = svc.now()
    ttl = svc.settings.idempotency_ttl
    req = idempotency.request_for(idempotency_key, principal.scope, "POST /v1/invoices",
                                  body.model_dump())
    if req is not None and (hit := idempotency.lookup(svc.db, req, ttl, now)) is not None:
        return _json(hit)
    bundle = active_policy(svc).bundle
    invoice = _evaluate(svc, bundle, body.order, body.as_of)
    if invoice.blocked:
        raise _blocked(invoice)
    invoice.canonical_json()  # serialised (and cached) before any lock is taken

    def action(session: Any) -> tuple[int, bytes]:
        return 201, issuing.issue(session, svc.port, bundle, invoice, body.order,
                                  principal.actor, now, svc.after_allocate)

    series = str(invoice.document.get("series") or "default")
    outcome = idempotency.run(svc.db, req, ttl, now, action, key=series)
    if not outcome.replayed:
        svc.metrics.issued.inc()
    return _json(outcome)


@router.get("/invoices/{number}", response_model=InvoiceResource,
            responses=error_responses(401, 403, 404))
def get_invoice(number: str, svc: SvcDep,
                _: Annotated[Principal, Depends(allowed("read"))]) -> Response:
    """An issued invoice with its credit notes and void."""
    with svc.db.read() as s:
        row, notes, void = issuing.load(s, number)
        data = issuing.resource(row, notes, void)
    return _json(idempotency.Outcome(200, idempotency.encode(data)))


@router.get("/invoices", response_model=InvoicePage, responses=error_responses(401, 403, 422))
def list_invoices(
    svc: SvcDep, _: Annotated[Principal, Depends(allowed("read"))],
    customer: Annotated[str | None, Query(max_length=100)] = None,
    date_from: Annotated[str | None, Query(pattern=DATE, description="inclusive")] = None,
    date_to: Annotated[str | None, Query(pattern=DATE, description="inclusive")] = None,
    status: Annotated[str | None, Query(pattern="^(issued|voided)$")] = None,
    revision: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern="^[0-9]{1,18}$")] = None,
) -> Response:
    """Issued invoices, oldest first, filtered; cursor pagination."""
    voided = exists().where(col(InvoiceVoid.invoice_id) == col(Invoice.id))
    stmt = select(Invoice, voided.label("voided")).order_by(col(Invoice.id)).limit(limit + 1)
    if customer is not None:
        stmt = stmt.where(Invoice.customer_id == customer)
    if date_from is not None:
        stmt = stmt.where(Invoice.date >= _date(date_from, "date_from"))
    if date_to is not None:
        stmt = stmt.where(Invoice.date <= _date(date_to, "date_to"))
    if revision is not None:
        stmt = stmt.where(Invoice.revision == revision)
    if status == "voided":
        stmt = stmt.where(voided)
    elif status == "issued":
        stmt = stmt.where(~voided)
    if cursor is not None:
        stmt = stmt.where(col(Invoice.id) > int(cursor))
    with svc.db.read() as s:
        rows = list(s.exec(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [issuing.summary(r, bool(v)) for r, v in rows]
    next_cursor = str(rows[-1][0].id) if more and rows else None
    data = {"items": items, "next_cursor": next_cursor}
    return _json(idempotency.Outcome(200, idempotency.encode(data)))


@router.post("/invoices/{number}/credit-notes", status_code=201,
             response_model=CreditNoteResource,
             responses=error_responses(401, 403, 404, 409, 413, 422))
def create_credit_note(
    number: str, body: CreditNoteRequest, svc: SvcDep,
    principal: Annotated[Principal, Depends(allowed("issue"))],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Credit part of an invoice, as its payment terms permit."""
    now = svc.now()
    ttl = svc.settings.idempotency_ttl
    req = idempotency.request_for(idempotency_key, principal.scope,
                                  f"POST /v1/invoices/{number}/credit-notes", body.model_dump())

    def action(session: Any) -> tuple[int, dict[str, Any]]:
        return 201, corrections.credit_note(session, svc.port, number, body.amount,
                                            body.reason, body.approved, principal.actor, now)

    return _json(idempotency.run(svc.db, req, ttl, now, action))


@router.post("/invoices/{number}/void", response_model=InvoiceResource,
             responses=error_responses(401, 403, 404, 409, 413, 422))
def void_invoice(
    number: str, body: VoidRequest, svc: SvcDep,
    principal: Annotated[Principal, Depends(allowed("issue"))],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Void an invoice within its void window, before any credit note."""
    now = svc.now()
    ttl = svc.settings.idempotency_ttl
    req = idempotency.request_for(idempotency_key, principal.scope,
                                  f"POST /v1/invoices/{number}/void", body.model_dump())

    def action(session: Any) -> tuple[int, dict[str, Any]]:
        return 200, corrections.void(session, number, body.reason, principal.actor, now)

    return _json(idempotency.run(svc.db, req, ttl, now, action))
