"""Fixtures for the service tests: a store on SQLite and on PostgreSQL (fresh schema)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_fakes import PG_ADMIN_URL, Clock, FakeEngine


def postgres_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema in the `test` database, dropped afterwards."""
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")
    import psycopg

    schema = "bp_" + uuid.uuid4().hex[:12]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'billplane.db'}"
    return str(request.getfixturevalue("pg_url"))


POLICIES = Path(__file__).resolve().parents[2] / "policies"


class Service:
    """An app on a fresh store with the stand-in engine (or `port`), a settable clock and one
    key a role."""

    def __init__(self, database_url: str, port: Any = None, **settings: Any) -> None:
        from fastapi.testclient import TestClient

        from api.app import create_app
        from api.auth import create_key
        from api.settings import Settings

        self.clock = Clock()
        after_allocate = settings.pop("after_allocate", None)
        settings.setdefault("policies", Path("unused"))
        self.settings = Settings(database_url=database_url, clock=self.clock, **settings)
        self.app = create_app(self.settings, port=port or FakeEngine(),
                              after_allocate=after_allocate)
        self.svc = self.app.state.services
        # entered once: one event loop for all requests instead of one each
        self._client = TestClient(self.app)
        self.client = self._client.__enter__()
        self.keys: dict[str, str] = {}
        with self.svc.db.write() as s:
            for role in ("billing", "auditor", "approver", "admin"):
                self.keys[role] = create_key(s, self.settings, role, role, "test")[1]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"} if role in self.keys else {}

    def close(self) -> None:
        self._client.__exit__(None, None, None)
        self.svc.db.dispose()


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    """The app on SQLite and on PostgreSQL."""
    s = Service(database_url)
    yield s
    s.close()


def real_service(database_url: str, tmp_path: Path, **settings: Any) -> Service:
    """The app over the real engine and a copy of the example policies (not in a git tree)."""
    import shutil

    from api.port import RealEngine

    policies = tmp_path / "example-policies"
    if not policies.exists():
        shutil.copytree(POLICIES, policies)
    return Service(database_url, port=RealEngine(), policies=policies, **settings)


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[Service]:
    """The app on SQLite only (for tests about the HTTP layer, not the store)."""
    s = Service(f"sqlite:///{tmp_path / 'billplane.db'}")
    yield s
    s.close()
