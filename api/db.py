"""Database engines, sessions and migrations (SQLite by default, PostgreSQL via psycopg 3)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlmodel import Session

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# any constant: serialises concurrent migrations of several service processes
_MIGRATION_LOCK = 0x62696C6C


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Database:
    """Engines for one database. `write()` serialises writers on SQLite (BEGIN IMMEDIATE)."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._sqlite_writer = threading.Lock()
        if self.is_sqlite:
            self._prepare_sqlite_path()
            self.read_engine = self._sqlite_engine("BEGIN")
            self.write_engine = self._sqlite_engine("BEGIN IMMEDIATE")
        else:
            self.write_engine = create_engine(self.url, pool_size=10, max_overflow=30,
                                              pool_pre_ping=True)
            self.read_engine = self.write_engine

    def _prepare_sqlite_path(self) -> None:
        path = self.url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)

    def _sqlite_engine(self, begin: str) -> Engine:
        engine = create_engine(self.url, connect_args={"check_same_thread": False,
                                                       "timeout": 60})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _: Any) -> None:
            # take transaction control from the driver so BEGIN IMMEDIATE is ours to issue
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

        return engine

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in one write transaction: committed on success, rolled back on error."""
        if self.is_sqlite:
            # SQLite has one writer at a time; queueing here instead of in its busy handler
            # (which sleeps up to 100 ms between retries) keeps the latency tail short.
            # BEGIN IMMEDIATE still serialises writers across processes.
            with self._sqlite_writer, Session(self.write_engine,
                                              expire_on_commit=False) as session, \
                    session.begin():
                yield session
            return
        with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (one snapshot on PostgreSQL, a deferred transaction on SQLite)."""
        with Session(self.read_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest migration (run at start-up)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        with self.write_engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def dispose(self) -> None:
        """Close pooled connections."""
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()
