"""What every route needs: the app's services and the calling principal."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import idempotency
from api.auth import KeyRing, Principal, require
from api.db import Database, aware
from api.issuing import AfterAllocate
from api.metrics import Metrics
from api.policy import Active, PolicyState
from api.port import EnginePort
from api.settings import Settings

PURGE_EVERY = dt.timedelta(minutes=10)


@dataclass
class Services:
    """The long-lived parts of one app."""

    settings: Settings
    db: Database
    port: EnginePort
    metrics: Metrics
    policy: PolicyState
    keys: KeyRing
    after_allocate: AfterAllocate | None = None
    last_purge: dt.datetime | None = None
    _purge_lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> dt.datetime:
        """The service clock in UTC (SQLite keeps a timestamp's wall time, not its zone)."""
        return aware(self.settings.clock()).astimezone(dt.UTC)

    def purge_due(self) -> bool:
        """Whether `maybe_purge` would purge now (a check that touches no store)."""
        return not (self.last_purge and self.now() - self.last_purge < PURGE_EVERY)

    def maybe_purge(self) -> None:
        """Purge expired idempotency keys now and then (on the request path, cheaply)."""
        if not self.purge_due():
            return
        now = self.now()
        if not self._purge_lock.acquire(blocking=False):
            return
        try:
            self.last_purge = now
            idempotency.purge(self.db, self.settings.idempotency_ttl, now)
        finally:
            self._purge_lock.release()


async def services(request: Request) -> Services:
    """The services of the app handling `request`."""
    svc: Services = request.app.state.services
    return svc


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer bpk_...`")


def allowed(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller's principal, when its role grants `permission`."""

    async def dependency(
        request: Request,
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        # async, so that a key verified a short while ago costs no worker thread; a key not
        # in the cache is read from the store in one
        svc: Services = request.app.state.services
        header = f"Bearer {creds.credentials}" if creds else None
        principal = svc.keys.cached(header)
        if principal is None:
            principal = await run_in_threadpool(svc.keys.verify, header)
        require(principal, permission)
        return principal

    return dependency


def active_policy(svc: Services) -> Active:
    """The revision this request runs on, taken once at the start of the request."""
    from api.errors import ApiError

    active = svc.policy.current()
    if active is None:
        raise ApiError("no_active_policy", "no policy revision is active")
    return active


SvcDep = Annotated[Services, Depends(services)]
