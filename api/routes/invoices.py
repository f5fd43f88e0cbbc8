"""Invoice endpoints: evaluate (draft), issue, read, list, the stored order, void."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import exists
from sqlmodel import col, select

from api import corrections, idempotency, issuing
from api.auth import Principal
from api.deps import Services, SvcDep, active_policy, allowed
from api.errors import ApiError, detail, error_responses, located
from api.inputs import IsoDate, JsonRoute, StrictModel
from api.port import InvoiceLike
from api.tables import MAX_ID, CreditNote, Invoice, InvoiceVoid
from engine.bundle import Bundle
from engine.errors import BillplaneError

router = APIRouter(prefix="/v1", tags=["invoices"], route_class=JsonRoute)
INLINE_LINES = 50  # orders up to this many lines are evaluated on the event loop


class EvaluateRequest(StrictModel):
    """An order to evaluate (see the order schema), optionally as of a date."""

    order: dict[str, Any]
    as_of: IsoDate | None = None
    ref: str | None = Field(default=None, max_length=200,
                            description="sandbox mode only: a git ref of the followed repository")
    trace: bool = Field(default=True, strict=True, description=(
        "false: the draft's `trace` is empty and every other field is the same (a quote "
        "needs no explanation of each amount); an issued invoice always keeps its trace"))


class IssueRequest(StrictModel):
    """An order to issue an invoice for."""

    order: dict[str, Any]
    as_of: IsoDate | None = None


class Evaluation(BaseModel):
    """A draft invoice: nothing is stored."""

    revision: str
    blocked: bool
    invoice: dict[str, Any]


class Window(BaseModel):
    """Whether a correction is possible and until when (inclusive; null: no limit)."""

    allowed: bool
    until: str | None


class Windows(BaseModel):
    """The correction windows, counted from the issue date."""

    credit_notes: Window
    void: Window


class InvoiceResource(BaseModel):
    """An issued invoice. `issue_date` is the day it was issued (UTC) and dates its number;
    `invoice.date` is the order's (supply) date the engine priced and taxed by. `status`:
    issued, partially_credited, credited (credit notes settle it) or voided."""

    number: str
    series: str
    status: Literal["issued", "partially_credited", "credited", "voided"]
    issue_date: str
    issued_at: str
    revision: str
    invoice: dict[str, Any]
    credit_notes: list[dict[str, Any]]
    void: dict[str, Any] | None
    windows: Windows


class InvoiceSummary(BaseModel):
    """One invoice of a listing."""

    number: str
    series: str
    customer_id: str
    order_id: str
    order_date: str
    issue_date: str
    currency: str
    total: str
    revision: str
    issued_at: str
    status: Literal["issued", "partially_credited", "credited", "voided"]


class InvoicePage(BaseModel):
    """A page of invoice summaries; pass `next_cursor` as `cursor` for the next."""

    items: list[InvoiceSummary]
    next_cursor: str | None


class StoredOrder(BaseModel):
    """The order an invoice was issued from, as it was received."""

    invoice: str
    order: dict[str, Any]


class VoidRequest(StrictModel):
    """Why the invoice is voided (kept in the audit log)."""

    reason: str = Field(min_length=1, max_length=500)


def _json(outcome: idempotency.Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(outcome.body, status_code=outcome.status, media_type="application/json",
                    headers=headers)


def _evaluate(svc: Services, bundle: Bundle, order: dict[str, Any],
              as_of: str | None, trace: bool = True) -> InvoiceLike:
    lines = order.get("lines")
    if isinstance(lines, list):
        if len(lines) > svc.settings.max_lines:
            raise ApiError("too_many_lines",
                           f"an order has at most {svc.settings.max_lines} lines",
                           details=[detail(["body", "order", "lines"], "too_long",
                                           f"has more than {svc.settings.max_lines} lines")])
        _limit_periods(lines, svc.settings.max_period_days)
    try:
        invoice = svc.port.evaluate(bundle, order, as_of, trace=trace)
    except BillplaneError:
        svc.metrics.evaluations.labels("invalid").inc()
        raise
    svc.metrics.evaluations.labels("blocked" if invoice.blocked else "ok").inc()
    return invoice


async def _evaluated(svc: Services, bundle: Bundle, order: dict[str, Any],
                     as_of: str | None, trace: bool = True) -> InvoiceLike:
    """`_evaluate` on the event loop (CPU work only, no thread hand-over), or in a worker
    thread for an order large enough to hold the loop long."""
    lines = order.get("lines")
    if isinstance(lines, list) and len(lines) > INLINE_LINES:
        return await run_in_threadpool(_evaluate, svc, bundle, order, as_of, trace)
    return _evaluate(svc, bundle, order, as_of, trace)


def _limit_periods(lines: list[Any], max_days: int) -> None:
    """A service period longer than `max_days` is refused: revenue schedules grow with the
    period, and no contract here runs for centuries."""
    for i, line in enumerate(lines):
        period = line.get("period") if isinstance(line, dict) else None
        if not isinstance(period, dict):
            continue
        try:
            start = dt.date.fromisoformat(period["start"])
            end = dt.date.fromisoformat(period["end"])
        except (KeyError, TypeError, ValueError):
            continue  # the engine reports what is wrong with it
        if (end - start).days > max_days:
            raise ApiError("period_too_long",
                           f"a line's service period is at most {max_days} days",
                           details=[detail(["body", "order", "lines", i, "period"],
                                           "too_long", f"is longer than {max_days} days")])


def _refuse_future(order: dict[str, Any], now: dt.datetime, days_ahead: int) -> None:
    """An invoice is issued for what was supplied: an order dated more than `days_ahead`
    after the issue date is refused (its date is checked by the engine otherwise)."""
    text = order.get("date")
    try:
        day = dt.date.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return
    latest = issuing.issue_date_of(now) + dt.timedelta(days=days_ahead)
    if day is not None and day > latest:
        raise ApiError("order_date_in_future",
                       f"the order is dated after {latest.isoformat()}, more than {days_ahead}"
                       " day(s) after the issue date",
                       details=[detail(["body", "order", "date"], "in_future",
                                       "is too far after the issue date")])


def _blocked(invoice: InvoiceLike) -> ApiError:
    errors = [detail(["body", "order"], str(v.get("code", "")), str(v.get("message", "")),
                     rule=str(v.get("rule", "")))
              for v in invoice.document.get("violations", []) if v.get("severity") == "error"]
    return ApiError("invoice_blocked", "error violations block issuance", details=errors)


@router.post("/invoices/evaluate", response_model=Evaluation,
             responses=error_responses(401, 403, 404, 413, 415, 422, 503))
async def evaluate(body: EvaluateRequest, svc: SvcDep,
                   _: Annotated[Principal, Depends(allowed("evaluate"))]) -> Response:
    """Evaluate an order into a draft invoice under the active revision (stores nothing)."""
    # Evaluating is CPU work only: done on the event loop it costs no thread hand-over. What
    # reads the store or a repository (a due policy sync, a sandbox ref), and large orders,
    # which would hold the loop long, go to a worker thread.
    if body.ref is not None:
        if not svc.settings.sandbox:
            raise ApiError("ref_not_allowed", "`ref` is accepted in sandbox mode only",
                           details=[detail(["body", "ref"], "not_allowed",
                                           "is accepted in sandbox mode only")])
        try:
            bundle = await run_in_threadpool(svc.policy.sandbox_bundle, body.ref)
        except BillplaneError as exc:
            raise located(exc, ["body", "ref"]) from None
    else:
        if svc.policy.sync_due():
            await run_in_threadpool(svc.policy.sync)
        bundle = active_policy(svc).bundle
    invoice = await _evaluated(svc, bundle, body.order, body.as_of, body.trace)
    return _json(idempotency.Outcome(200, evaluation_bytes(invoice, bundle.revision)))


def evaluation_bytes(invoice: InvoiceLike, revision: str) -> bytes:
    """`encode({"revision", "blocked", "invoice"})`, splicing in the canonical invoice bytes
    (already sorted and compact) instead of serialising the document again."""
    blocked = b"true" if invoice.blocked else b"false"
    rev = json.dumps(revision, ensure_ascii=False).encode()
    return (b'{"blocked":' + blocked + b',"invoice":' + invoice.canonical_json()
            + b',"revision":' + rev + b"}")


@router.post("/invoices", status_code=201, response_model=InvoiceResource,
             responses=error_responses(401, 403, 409, 413, 415, 422, 503))
async def issue(body: IssueRequest, svc: SvcDep,
                principal: Annotated[Principal, Depends(allowed("issue"))],
                idempotency_key: Annotated[str | None, Header(max_length=255)] = None
                ) -> Response:
    """Issue an invoice: evaluate, refuse on error violations, number it, store it."""
    # As in evaluate, the evaluation runs on the event loop and only what touches the store
    # goes to a worker thread: evaluations in many threads at once would take turns on the
    # interpreter lock with the thread that holds the store's write lock, and stall it.
    if svc.purge_due():
        await run_in_threadpool(svc.maybe_purge)
    now = svc.now()
    ttl = svc.settings.idempotency_ttl
    req = idempotency.request_for(idempotency_key, principal.scope, "POST /v1/invoices",
                                  body.model_dump())
    # a key seen before is found inside the issuing transaction, so a new key (the usual
    # case) costs no read of its own; only a request that cannot be issued now looks for an
    # earlier answer first: a retry gets the response it was given, whatever the policy
    # would say today
    try:
        bundle, invoice = await _issuable(svc, body, now)
    except Exception as refused:
        if req is None:
            raise
        return _json(await _answered_before(svc, req, ttl, now, refused))

    def action(session: Any) -> tuple[int, bytes]:
        return 201, issuing.issue(session, svc.port, bundle, invoice, body.order,
                                  principal.actor, now, svc.after_allocate)

    series = str(invoice.document.get("series") or "default")
    outcome = await run_in_threadpool(idempotency.run, svc.db, req, ttl, now, action, series)
    if not outcome.replayed:
        svc.metrics.issued.inc()
    return _json(outcome)


async def _answered_before(svc: Services, req: idempotency.IdemRequest, ttl: dt.timedelta,
                           now: dt.datetime, refused: Exception) -> idempotency.Outcome:
    """The answer a retry was first given; else the reason it cannot be issued now. A key
    used with another request is a conflict; a store that cannot be asked leaves the refusal
    as it is."""
    try:
        hit = await run_in_threadpool(idempotency.lookup, svc.db, req, ttl, now)
    except ApiError:
        raise
    except Exception:  # noqa: BLE001 - the refusal is the answer to give
        raise refused from None
    if hit is None:
        raise refused
    return hit


async def _issuable(svc: Services, body: IssueRequest, now: dt.datetime
                    ) -> tuple[Bundle, InvoiceLike]:
    """The active bundle and the order's invoice as of the issue date; refused (an ApiError)
    when the order cannot be issued now."""
    _refuse_future(body.order, now, svc.settings.max_order_days_ahead)
    # the invoice date is the issue date: payment terms and windows run from it
    issue_day = issuing.issue_date_of(now).isoformat()
    if body.as_of is not None and body.as_of != issue_day:
        raise ApiError("invalid_as_of", f"an invoice is issued as of its issue date ({issue_day})",
                       details=[detail(["body", "as_of"], "not_issue_date",
                                       "must be the issue date, or left out")])
    bundle = active_policy(svc).bundle
    invoice = await _evaluated(svc, bundle, body.order, issue_day)
    if invoice.blocked:
        raise _blocked(invoice)
    invoice.canonical_json()  # serialised (and cached) before any lock is taken
    return bundle, invoice


@router.get("/invoices/{number}", response_model=InvoiceResource,
            responses=error_responses(401, 403, 404))
def get_invoice(number: str, svc: SvcDep,
                _: Annotated[Principal, Depends(allowed("read"))]) -> Response:
    """An issued invoice with its credit notes and void."""
    with svc.db.read() as s:
        row, notes, void = issuing.load(s, number)
        data = issuing.resource(row, notes, void)
    return _json(idempotency.Outcome(200, idempotency.encode(data)))


@router.get("/invoices/{number}/order", response_model=StoredOrder,
            responses=error_responses(401, 403, 404))
def get_order(number: str, svc: SvcDep,
              _: Annotated[Principal, Depends(allowed("audit"))]) -> Response:
    """The order the invoice was issued from (auditors and admins: it holds customer data)."""
    with svc.db.read() as s:
        row = s.exec(select(Invoice).where(Invoice.number == number)).first()
        if row is None:
            raise ApiError("invoice_not_found", "no invoice has this number",
                           details=[detail(["path", "number"], "not_found", "names no invoice")])
        data = {"invoice": row.number, "order": json.loads(row.order_json)}
    return _json(idempotency.Outcome(200, idempotency.encode(data)))


STATUS = "^(issued|partially_credited|credited|voided)$"
# a commit SHA or a prefix of it (reports print 12 characters), or a whole revision of
# another form (a directory's `dir:<digest>`, a commit with uncommitted changes `+dirty`)
HEX_PREFIX = "[0-9a-fA-F]{7,40}"
REVISION = rf"^(?:{HEX_PREFIX}|[0-9a-f]{{40}}\+dirty|dir:[0-9a-f]{{16}})$"
REVISION_HELP = ("policy revision: a commit SHA or a prefix of it of at least 7 hex digits"
                 " (e.g. the 12 that reports print), matching every invoice whose revision"
                 " starts with it (`<sha>+dirty` ones too); or a whole `<sha>+dirty` or"
                 " `dir:<digest>` revision, matched exactly")


@router.get("/invoices", response_model=InvoicePage, responses=error_responses(401, 403, 422))
def list_invoices(
    svc: SvcDep, _: Annotated[Principal, Depends(allowed("read"))],
    customer: Annotated[str | None, Query(max_length=100)] = None,
    date_from: Annotated[IsoDate | None, Query(description="issue date, inclusive")] = None,
    date_to: Annotated[IsoDate | None, Query(description="issue date, inclusive")] = None,
    status: Annotated[str | None, Query(pattern=STATUS)] = None,
    revision: Annotated[str | None, Query(pattern=REVISION, description=REVISION_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(pattern="^[0-9]{1,18}$")] = None,
) -> Response:
    """Issued invoices, oldest first, filtered; cursor pagination."""
    if date_from is not None and date_to is not None and date_to < date_from:
        # swapped bounds would list nothing, as if no invoice had been issued in the range
        raise ApiError("invalid_request", "date_to is before date_from",
                       details=[detail(["query", "date_to"], "before_date_from",
                                       "must not be before date_from")])
    voided = exists().where(col(InvoiceVoid.invoice_id) == col(Invoice.id))
    noted = exists().where(col(CreditNote.invoice_id) == col(Invoice.id))
    settled = exists().where(col(CreditNote.invoice_id) == col(Invoice.id),
                             col(CreditNote.settles).is_(True))
    stmt = (select(Invoice, voided.label("voided"), noted.label("noted"),
                   settled.label("settled")).order_by(col(Invoice.id)).limit(limit + 1))
    if customer is not None:
        stmt = stmt.where(Invoice.customer_id == customer)
    if date_from is not None:
        stmt = stmt.where(col(Invoice.issued_at) >= _day_start(dt.date.fromisoformat(date_from)))
    if date_to is not None and dt.date.fromisoformat(date_to) < dt.date.max:
        # up to the end of that day (9999-12-31 has no next day: no upper bound)
        after = dt.date.fromisoformat(date_to) + dt.timedelta(days=1)
        stmt = stmt.where(col(Invoice.issued_at) < _day_start(after))
    if revision is not None and re.fullmatch(HEX_PREFIX, revision):
        stmt = stmt.where(col(Invoice.revision).startswith(revision.lower(), autoescape=True))
    elif revision is not None:
        stmt = stmt.where(Invoice.revision == revision)
    if status == "voided":
        stmt = stmt.where(voided)
    elif status == "credited":
        stmt = stmt.where(settled)
    elif status == "partially_credited":
        stmt = stmt.where(noted, ~settled)
    elif status == "issued":
        stmt = stmt.where(~voided, ~noted)
    if cursor is not None:
        # a cursor past the largest id the store holds finds nothing (PostgreSQL would
        # refuse to compare its 32-bit ids with it)
        stmt = stmt.where(col(Invoice.id) > min(int(cursor), MAX_ID))
    with svc.db.read() as s:
        rows = list(s.exec(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [issuing.summary(r, _status(bool(v), bool(n), bool(c))) for r, v, n, c in rows]
    next_cursor = str(rows[-1][0].id) if more and rows else None
    data = {"items": items, "next_cursor": next_cursor}
    return _json(idempotency.Outcome(200, idempotency.encode(data)))


def _status(voided: bool, noted: bool, settled: bool) -> str:
    if voided:
        return "voided"
    if settled:
        return "credited"
    return "partially_credited" if noted else "issued"


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@router.post("/invoices/{number}/void", response_model=InvoiceResource,
             responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503))
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
