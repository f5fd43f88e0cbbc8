"""The FastAPI application factory: `create_app(settings)`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from api import docs_pages, errors, openapi
from api.auth import KeyRing, create_key, token_problem
from api.db import Database
from api.deps import Services
from api.head import HeadAsGet
from api.inputs import refuse_unstorable_text
from api.issuing import AfterAllocate
from api.metrics import BodyLimitMiddleware, Metrics, MetricsMiddleware
from api.policy import Follower, PolicyState
from api.port import EnginePort, RealEngine
from api.routes import admin, credit_notes, health, invoices, policy
from api.settings import Settings
from api.tables import ApiKey

VERSION = "0.1.0"


def check_bootstrap_key(settings: Settings) -> None:
    """A ValueError saying what is wrong (never the key itself) when
    BILLPLANE_BOOTSTRAP_ADMIN_KEY is set but is not as strong as a generated key."""
    token = settings.bootstrap_admin_key
    problem = token_problem(token) if token else None
    if problem is not None:
        raise ValueError(f"BILLPLANE_BOOTSTRAP_ADMIN_KEY {problem}")


def bootstrap_key(db: Database, settings: Settings) -> None:
    """Store BILLPLANE_BOOTSTRAP_ADMIN_KEY as an admin key when the store has no keys."""
    token = settings.bootstrap_admin_key
    if not token:
        return
    try:
        with db.write() as s:
            if s.exec(select(ApiKey)).first() is None:
                create_key(s, settings, "admin", "bootstrap", "system", token=token)
    except IntegrityError:
        pass  # another server process of this store stored it at the same moment


def create_app(settings: Settings | None = None, port: EnginePort | None = None,
               after_allocate: AfterAllocate | None = None) -> FastAPI:
    """Build the app: migrate the store, activate a revision, wire routes and handlers."""
    settings = settings or Settings.from_env()
    check_bootstrap_key(settings)  # before anything is created: the service does not start
    port = port or RealEngine(settings.backend)
    db = Database(settings.database_url, settings.sqlite_synchronous)
    db.migrate()
    bootstrap_key(db, settings)
    metrics = Metrics()
    state = PolicyState(settings, port, db, metrics)
    state.start()
    svc = Services(settings, db, port, metrics, state, KeyRing(db, settings), after_allocate)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        follower = None
        if settings.repo is not None and settings.poll_interval > 0:
            follower = Follower(state, settings.poll_interval)
            follower.start()
        try:
            yield
        finally:
            if follower is not None:
                follower.stop()
            db.dispose()

    app = FastAPI(title="billplane", version=VERSION, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # served by docs_pages, without a CDN
                  generate_unique_id_function=openapi.operation_id,
                  dependencies=[Depends(errors.reject_repeated_headers),
                                Depends(errors.reject_unknown_query),
                                Depends(refuse_unstorable_text)],
                  description="Evaluate and issue invoices under versioned billing policies."
                              " A JSON body must not give a key twice in one object: such a"
                              " request is a 422 `duplicate_key` naming the key's path, line"
                              " and column (nothing of it is processed or stored)."
                              " Text anywhere in a request must not contain NUL characters"
                              " (U+0000) or lone surrogates: such a request is a 422"
                              " `invalid_text` naming where.")
    app.state.services = svc
    errors.install(app)
    openapi.install(app)
    docs_pages.install(app)
    routers = (invoices.router, credit_notes.router, policy.router, admin.router,
               health.router)
    for router in routers:
        app.include_router(router)
    # the routes themselves, in routing order (the app's list holds their routers): a 405
    # names the methods of the path's routes (errors._methods_for)
    app.state.api_routes = [route for router in routers for route in router.routes]
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(HeadAsGet)  # every GET route answers HEAD (outside it: counted as HEAD)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(errors.UnexpectedErrors)  # outermost of ours: nothing gets past it
    return app


def app_from_env() -> FastAPI:
    """The app of one server worker process, configured by BILLPLANE_* variables only
    (`billplane serve --workers N` passes its options that way)."""
    import os

    settings = Settings.from_env()
    if settings.repo is not None and not os.environ.get("BILLPLANE_POLICIES"):
        settings.policies = None
    return create_app(settings)
