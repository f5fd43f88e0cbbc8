"""Policy endpoints: the active revision, its history, activation, the push webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.auth import Principal
from api.deps import SvcDep, active_policy, allowed
from api.errors import ApiError, billplane_details, detail, error_responses, located
from api.inputs import JsonRoute, StrictModel, is_json_type, refuse_repeated_keys
from api.issuing import _iso
from api.tables import PolicyActivation
from engine.errors import BillplaneError

router = APIRouter(prefix="/v1/policy", tags=["policy"], route_class=JsonRoute)
SIGNATURE_HEADERS = ("x-billplane-signature", "x-hub-signature-256")


class PolicyInfo(BaseModel):
    """The revision being served and the last refused one. `dirty`: served from a working
    tree with uncommitted changes (its revision ends in `+dirty`)."""

    revision: str
    digest: str
    activated_at: str
    source: str
    dirty: bool
    manifest: dict[str, Any]
    refused: dict[str, Any] | None


class Approval(BaseModel):
    """An approval recorded in the commit's trailers."""

    trailer: str
    by: str


class CommitMeta(BaseModel):
    """The revision's commit (null for a directory outside git)."""

    author: str
    committed_at: str | None
    subject: str
    approvals: list[Approval]


class HistoryItem(BaseModel):
    """One activation: the revision, its commit, who activated it, when and why."""

    revision: str
    digest: str
    activated_at: str
    actor: str
    reason: str
    source: str
    dirty: bool
    commit: CommitMeta | None


class ActivateRequest(StrictModel):
    """A revision (commit, tag or branch of the followed repository) to activate."""

    revision: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=500)


class HistoryPage(BaseModel):
    """Activations, newest first."""

    items: list[HistoryItem]


class PollOutcome(BaseModel):
    """What a poll of the followed branch found."""

    head: str
    changed: bool
    activated: bool
    reason: str | None = None


def _info(svc: Any) -> dict[str, Any]:
    active = active_policy(svc)
    refused = svc.policy.refused
    return {
        "revision": active.revision, "digest": active.bundle.digest,
        "activated_at": _iso(active.activated_at), "source": active.source,
        "dirty": active.dirty, "manifest": active.bundle.manifest(),
        "refused": None if refused is None else {
            "revision": refused.revision, "reason": refused.reason, "at": _iso(refused.at)},
    }


@router.get("", response_model=PolicyInfo, responses=error_responses(401, 403, 503))
def get_policy(svc: SvcDep, _: Annotated[Principal, Depends(allowed("read"))]) -> Any:
    """The active revision and its manifest."""
    return _info(svc)


@router.get("/history", response_model=HistoryPage, responses=error_responses(401, 403, 422))
def history(svc: SvcDep, _: Annotated[Principal, Depends(allowed("read"))],
            limit: Annotated[int, Query(ge=1, le=500)] = 50,
            offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> Any:
    """Revisions that were activated, newest first."""
    stmt = (select(PolicyActivation).order_by(col(PolicyActivation.id).desc())
            .offset(offset).limit(limit))
    with svc.db.read() as s:
        rows = list(s.exec(stmt))
    return {"items": [_history_item(r) for r in rows]}


def _history_item(r: PolicyActivation) -> dict[str, Any]:
    commit = None
    if r.commit_author or r.committed_at:
        commit = {"author": r.commit_author, "subject": r.commit_subject,
                  "committed_at": _iso(r.committed_at) if r.committed_at else None,
                  "approvals": json.loads(r.approvals or "[]")}
    return {"revision": r.revision, "digest": r.digest, "activated_at": _iso(r.activated_at),
            "actor": r.actor, "reason": r.reason, "source": r.source, "dirty": r.dirty,
            "commit": commit}


@router.post("/activate", response_model=PolicyInfo,
             responses=error_responses(401, 403, 404, 409, 413, 415, 422, 503))
def activate(body: ActivateRequest, svc: SvcDep,
             principal: Annotated[Principal, Depends(allowed("activate"))]) -> Any:
    """Activate a revision: it must load whole and its PolicyTests must pass."""
    try:
        svc.policy.activate_revision(body.revision, principal.actor, body.reason)
    except BillplaneError as exc:
        if exc.code in ("unknown_revision", "revision_mismatch"):
            raise located(exc, ["body", "revision"]) from None
        if exc.code == "activation_unavailable":
            raise
        raise ApiError("activation_refused", "the revision was not activated",
                       details=billplane_details(exc)) from exc
    return _info(svc)


@router.post("/webhook", response_model=PollOutcome,
             responses=error_responses(401, 404, 413, 415, 422))
async def webhook(request: Request, svc: SvcDep) -> Any:
    """A push to the policy repository: verify the HMAC signature, then poll now."""
    secret = svc.settings.webhook_secret
    if not secret:
        raise ApiError("webhook_disabled", "no webhook secret is configured",
                       details=[detail(["path"], "disabled",
                                       "the webhook is off without BILLPLANE_WEBHOOK_SECRET")])
    body = await request.body()
    expected = b"sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    header = next((h for h in SIGNATURE_HEADERS if h in request.headers), SIGNATURE_HEADERS[0])
    given = request.headers.get(header, "")
    # compared as the bytes sent (headers are read as Latin-1): a str with non-ASCII
    # characters cannot be compared in constant time
    if not hmac.compare_digest(expected, given.encode("latin-1")):
        raise ApiError("invalid_signature", "the signature does not match the body",
                       details=[detail(["header", header], "invalid_signature",
                                       "must be sha256=<hex HMAC-SHA256 of the body>")])
    # the body is only signed, never used; a JSON one with a repeated key is still refused
    # like any other body's (after the signature: an unsigned body is not parsed for it)
    if is_json_type(request.headers.get("content-type")):
        refuse_repeated_keys(body)
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(svc.policy.poll, "webhook")
