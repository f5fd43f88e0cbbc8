"""Database engines, sessions and migrations (SQLite by default, PostgreSQL via psycopg 3)."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlmodel import Session

from api.batching import WriteBatcher
from api.settings import MissingDriver

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# any constant: serialises concurrent migrations of several service processes
_MIGRATION_LOCK = 0x62696C6C
SQLITE_SYNCHRONOUS = ("full", "normal")
POSTGRES_EXTRA = ("PostgreSQL needs the postgres extra (the psycopg driver): pip install -e"
                  " '.[postgres]' in a checkout, or pip install 'billplane[postgres]'")


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def aware(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def sqlite_synchronous_from_env() -> str:
    """BILLPLANE_SQLITE_SYNCHRONOUS (full or normal; default full)."""
    return os.environ.get("BILLPLANE_SQLITE_SYNCHRONOUS", "full").strip().lower() or "full"


class Database:
    """Engines for one database. `write()` serialises writers on SQLite (BEGIN IMMEDIATE).

    `sqlite_synchronous` is SQLite's commit durability: `full` (default) syncs the WAL at
    every commit, so an issued number survives a power loss; `normal` syncs at checkpoints
    only: safe against process crashes, but a power loss may lose the last commits (invoice
    and number together, so the store keeps no gap, yet a client may have seen that number).
    """

    def __init__(self, url: str, sqlite_synchronous: str | None = None) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.sqlite_synchronous = (sqlite_synchronous or sqlite_synchronous_from_env()).lower()
        if self.sqlite_synchronous not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"SQLite synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)},"
                             f" not {self.sqlite_synchronous!r}")
        self._sqlite_writer = threading.Lock()
        self._lock_fd: int | None = None
        self._batcher = WriteBatcher(self.write)
        if self.is_sqlite:
            self._prepare_sqlite_path()
            self.read_engine = self._sqlite_engine("BEGIN")
            self.write_engine = self._sqlite_engine("BEGIN IMMEDIATE")
        else:
            try:
                self.write_engine = create_engine(self.url, pool_size=10, max_overflow=30,
                                                  pool_pre_ping=True, hide_parameters=True)
            except ModuleNotFoundError as exc:
                if (exc.name or "").partition(".")[0] != "psycopg":
                    raise
                raise MissingDriver(POSTGRES_EXTRA) from None
            self.read_engine = self.write_engine

    def _prepare_sqlite_path(self) -> None:
        path = self.url.split("///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # a new store is readable by its owner only: it holds every invoice with its
            # customer's data (SQLite gives the -wal and -shm files the database's mode)
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            # writers of several processes queue on this file's lock in the kernel instead
            # of polling in SQLite's busy handler (which sleeps up to 100 ms a retry)
            self._lock_fd = os.open(path + ".writer-lock", os.O_RDWR | os.O_CREAT, 0o600)

    def _sqlite_engine(self, begin: str) -> Engine:
        sqlite_synchronous = self.sqlite_synchronous.upper()
        # hide_parameters: a database error's text must never quote the stored data
        engine = create_engine(self.url, connect_args={"check_same_thread": False,
                                                       "timeout": 60}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _: Any) -> None:
            # take transaction control from the driver so BEGIN IMMEDIATE is ours to issue
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sqlite_synchronous}")
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
            with self._sqlite_writer, _FileLock(self._lock_fd), \
                    Session(self.write_engine, expire_on_commit=False) as session, \
                    session.begin():
                yield session
            return
        with Session(self.write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def transact(self, work: Callable[[Session], Any], key: str = "") -> Any:
        """`work(session)` in a write transaction, committed together with the work of
        concurrent callers (one commit, one disk sync for all); each caller's work runs in
        its own savepoint, so its failure undoes only its own writes and is raised to it.
        `key` orders work within a batch (the first lock it takes, e.g. its series)."""
        return self._batcher.run(work, key)

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
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class _FileLock:
    """An exclusive flock on an open file (a no-op without one)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def __enter__(self) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        if self.fd is not None:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_UN)
