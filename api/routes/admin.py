"""Admin and auditor endpoints: API keys and the audit log."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.auth import Principal, create_key, revoke_key
from api.deps import SvcDep, allowed
from api.errors import ApiError, detail, error_responses
from api.inputs import JsonRoute, StrictModel
from api.issuing import _iso
from api.tables import MAX_ID, ApiKey, AuditEntry

router = APIRouter(prefix="/v1", tags=["admin"], route_class=JsonRoute)


class KeyRequest(StrictModel):
    """A key to create."""

    role: Literal["billing", "auditor", "approver", "admin"]
    name: str = Field(default="", max_length=200)


class KeyInfo(BaseModel):
    """A key as listed (never its secret)."""

    prefix: str
    role: str
    name: str
    created_at: str
    revoked_at: str | None


class NewKey(KeyInfo):
    """A created key: `key` is shown this once and cannot be recovered."""

    key: str


class KeyList(BaseModel):
    """All keys."""

    items: list[KeyInfo]


class AuditPage(BaseModel):
    """Audit entries, oldest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def _key_info(row: ApiKey) -> dict[str, Any]:
    return {"prefix": row.prefix, "role": row.role, "name": row.name,
            "created_at": _iso(row.created_at),
            "revoked_at": _iso(row.revoked_at) if row.revoked_at else None}


@router.post("/keys", status_code=201, response_model=NewKey,
             responses=error_responses(401, 403, 413, 415, 422))
def create(body: KeyRequest, svc: SvcDep,
           principal: Annotated[Principal, Depends(allowed("keys"))]) -> Any:
    """Create an API key."""
    with svc.db.write() as s:
        row, token = create_key(s, svc.settings, body.role, body.name, principal.actor)
        return {**_key_info(row), "key": token}


@router.get("/keys", response_model=KeyList, responses=error_responses(401, 403))
def list_keys(svc: SvcDep, _: Annotated[Principal, Depends(allowed("keys"))]) -> Any:
    """All keys, without secrets."""
    with svc.db.read() as s:
        return {"items": [_key_info(r) for r in s.exec(select(ApiKey).order_by(col(ApiKey.id)))]}


@router.delete("/keys/{prefix}", response_model=KeyInfo,
               responses=error_responses(401, 403, 404, 409, 422))
def revoke(prefix: str, svc: SvcDep,
           principal: Annotated[Principal, Depends(allowed("keys"))],
           reason: Annotated[str, Query(min_length=1, max_length=500,
                                        description="why (kept in the audit log)")]) -> Any:
    """Revoke a key (at once in this process, within the key cache time in others). The last
    active admin key cannot be revoked."""
    with svc.db.write() as s:
        row = revoke_key(s, prefix, principal.actor, reason, svc.now())
        if row is None:
            raise ApiError("key_not_found", "no key has this prefix",
                           details=[detail(["path", "prefix"], "not_found", "names no key")])
        info = _key_info(row)
    svc.keys.forget(prefix)
    return info


@router.get("/audit", response_model=AuditPage, responses=error_responses(401, 403, 422))
def audit_log(svc: SvcDep, _: Annotated[Principal, Depends(allowed("audit"))],
              action: Annotated[str | None, Query(max_length=50)] = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              cursor: Annotated[str | None, Query(pattern="^[0-9]{1,18}$")] = None) -> Any:
    """The append-only log of state changes."""
    stmt = select(AuditEntry).order_by(col(AuditEntry.id)).limit(limit + 1)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    if cursor is not None:
        stmt = stmt.where(col(AuditEntry.id) > min(int(cursor), MAX_ID))  # as for invoices
    with svc.db.read() as s:
        rows = list(s.exec(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"id": r.id, "at": _iso(r.at), "actor": r.actor, "action": r.action,
              "subject": r.subject, "reason": r.reason, "before_digest": r.before_digest,
              "after_digest": r.after_digest} for r in rows]
    return {"items": items, "next_cursor": str(rows[-1].id) if more and rows else None}
