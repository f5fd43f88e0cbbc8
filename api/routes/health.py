"""Liveness, readiness (with the policy detail) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import SvcDep
from api.inputs import JsonRoute
from api.issuing import _iso

router = APIRouter(tags=["health"], route_class=JsonRoute)


class Health(BaseModel):
    """Alive."""

    status: str


class Ready(BaseModel):
    """Ready to serve: a revision is active, it is the store's, and the database answers.
    `out_of_sync` says why this process cannot serve the store's active revision."""

    status: str
    database: bool
    active_revision: str | None
    active_digest: str | None
    activated_at: str | None
    refused: dict[str, Any] | None
    out_of_sync: str | None = None


@router.get("/healthz", response_model=Health)
async def healthz() -> Any:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
def readyz(svc: SvcDep) -> Any:
    """Ready when a revision is active and the database answers; shows the last refusal."""
    try:
        with svc.db.read() as s:
            s.execute(text("SELECT 1"))
        database = True
    except Exception:  # noqa: BLE001 - any failure means not ready
        database = False
    active = svc.policy.current()
    refused = svc.policy.refused
    out_of_sync = svc.policy.out_of_sync or None
    ok = database and active is not None and out_of_sync is None
    body = {
        "status": "ready" if ok else "not_ready", "database": database,
        "active_revision": active.revision if active else None,
        "active_digest": active.bundle.digest if active else None,
        "activated_at": _iso(active.activated_at) if active else None,
        "refused": None if refused is None else {
            "revision": refused.revision, "reason": refused.reason, "at": _iso(refused.at)},
        "out_of_sync": out_of_sync,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}})
def metrics(svc: SvcDep) -> Response:
    """Prometheus text exposition."""
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
