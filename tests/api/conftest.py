"""Fixtures for the service tests: a store on SQLite and on PostgreSQL (fresh schema)."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_fakes import PG_ADMIN_URL
from api_service import Service


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


@pytest.fixture
def service(database_url: str) -> Iterator[Service]:
    """The app on SQLite and on PostgreSQL."""
    s = Service(database_url)
    yield s
    s.close()


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[Service]:
    """The app on SQLite only (for tests about the HTTP layer, not the store)."""
    s = Service(f"sqlite:///{tmp_path / 'billplane.db'}")
    yield s
    s.close()
