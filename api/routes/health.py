"""Liveness, readiness (with the policy detail) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import SvcDep
from api.issuing import _iso

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Alive."""

    status: str


class Ready(BaseModel):
    """Ready to serve: a revision is active and the database answers."""

    status: str
    database: bool
    active_revision: str | None
    active_digest: str | None
    activated_at: str | None
    refused: dict[str, Any] | None


@router.get("/healthz", response_model=Health)
def healthz() -> Any:
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
    ok = database and active is not None
    body = {
        "status": "ready" if ok else "not_ready", "database": database,
        "active_revision": active.revision if active else None,
        "active_digest": active.bundle.digest if active else None,
        "activated_at": _iso(active.activated_at) if active else None,
        "refused": None if refused is None else {
            "revision": refused.revision, "reason": refused.reason, "at": _iso(refused.at)},
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text"}})
def metrics(svc: SvcDep) -> Response:
    """Prometheus text exposition."""
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
