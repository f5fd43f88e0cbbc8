"""Credit note endpoints: credit an invoice, read a credit note, decide on a request that
needs another principal's approval."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Response
from pydantic import BaseModel, Field

from api import corrections, idempotency
from api.auth import Principal
from api.deps import SvcDep, allowed
from api.errors import error_responses
from api.inputs import JsonRoute, StrictModel

router = APIRouter(prefix="/v1", tags=["credit notes"], route_class=JsonRoute)
DECIMAL = r"^[0-9]{1,15}(\.[0-9]{1,10})?$"
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class CreditNoteRequest(StrictModel):
    """A credit note: a positive amount in the invoice currency, tax included, and why."""

    amount: str = Field(pattern=DECIMAL)
    reason: str = Field(min_length=1, max_length=500)


class TaxShare(BaseModel):
    """The credit note's share of one of the invoice's tax lines."""

    rule: str
    jurisdiction: str
    rate: str
    reverse_charge: bool
    exemption: str = Field("", description="the invoice line's exemption code, if any")
    reason: str = Field("", description="the invoice line's reverse-charge or exemption "
                        "statement, if any")
    taxable: str
    amount: str


class CreditNoteResource(BaseModel):
    """An issued credit note: `amount` = `net` + `tax` (null for notes stored before the split
    was recorded); `settles`: it brought the invoice to fully credited."""

    number: str
    invoice: str
    currency: str
    amount: str
    net: str | None
    tax: str | None
    tax_lines: list[TaxShare]
    reason: str
    settles: bool
    approved_by: str | None
    requested_by: str
    created_at: str


class CreditRequestResource(BaseModel):
    """A credit note above the invoice's approval threshold, waiting for (or past) a decision
    by another principal with the approve permission."""

    id: int
    invoice: str
    currency: str
    amount: str
    reason: str
    status: Literal["pending_approval", "approved", "rejected"]
    requested_by: str
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    decision_reason: str | None
    credit_note: str | None


class Decision(StrictModel):
    """Why the request is approved or rejected (kept in the audit log)."""

    reason: str = Field(min_length=1, max_length=500)


def _json(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


@router.post("/invoices/{number}/credit-notes", status_code=201,
             response_model=CreditNoteResource,
             responses={**error_responses(401, 403, 404, 409, 413, 415, 422, 503),
                        202: {"model": CreditRequestResource,
                              "description": "Above the approval threshold: a request awaiting"
                                             " another principal's approval"}})
def create_credit_note(
    number: str, body: CreditNoteRequest, svc: SvcDep,
    principal: Annotated[Principal, Depends(allowed("issue"))],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> Response:
    """Credit part of an invoice, as its payment terms permit (201); above the terms'
    approval percent the credit note waits for approval by another principal (202)."""
    now = svc.now()
    req = idempotency.request_for(idempotency_key, principal.scope,
                                  f"POST /v1/invoices/{number}/credit-notes", body.model_dump())

    def action(session: Any) -> tuple[int, dict[str, Any]]:
        return corrections.credit_note(session, svc.port, number, body.amount, body.reason,
                                       principal, now)

    outcome = idempotency.run(svc.db, req, svc.settings.idempotency_ttl, now, action,
                              key=number)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, status_code=outcome.status, media_type="application/json",
                    headers=headers)


@router.get("/credit-notes/{number}", response_model=CreditNoteResource,
            responses=error_responses(401, 403, 404))
def get_credit_note(number: str, svc: SvcDep,
                    _: Annotated[Principal, Depends(allowed("read"))]) -> Response:
    """A credit note with its net/tax split."""
    with svc.db.read() as s:
        return _json(200, idempotency.encode(corrections.load_note(s, number)))


@router.get("/credit-note-requests/{request_id}", response_model=CreditRequestResource,
            responses=error_responses(401, 403, 404, 422))
def get_request(request_id: RequestId, svc: SvcDep,
                _: Annotated[Principal, Depends(allowed("read"))]) -> Response:
    """A credit note request and its decision."""
    with svc.db.read() as s:
        request, row, decision, note = corrections.load_request(s, request_id)
        data = corrections.request_resource(request, row, decision, note)
    return _json(200, idempotency.encode(data))


@router.post("/credit-note-requests/{request_id}/approve", status_code=201,
             response_model=CreditNoteResource,
             responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503))
def approve(request_id: RequestId, body: Decision, svc: SvcDep,
            principal: Annotated[Principal, Depends(allowed("approve"))]) -> Response:
    """Approve a request (not one's own): the credit note is numbered and issued, if the
    invoice's terms still permit it."""
    now = svc.now()
    status, data = svc.db.transact(lambda s: corrections.decide(
        s, svc.port, request_id, True, body.reason, principal, now))
    return _json(status, idempotency.encode(data))


@router.post("/credit-note-requests/{request_id}/reject", response_model=CreditRequestResource,
             responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503))
def reject(request_id: RequestId, body: Decision, svc: SvcDep,
           principal: Annotated[Principal, Depends(allowed("approve"))]) -> Response:
    """Reject a request (not one's own); nothing is credited."""
    now = svc.now()
    status, data = svc.db.transact(lambda s: corrections.decide(
        s, svc.port, request_id, False, body.reason, principal, now))
    return _json(status, idempotency.encode(data))
