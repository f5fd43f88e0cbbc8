"""Group commit, the hot-path response bytes and SQLite's commit durability setting."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from api_fakes import FakeEngine, fake_bundle, issue_action, issued_seqs, order
from sqlalchemy import text
from sqlmodel import Session, select

from api import idempotency, issuing
from api.batching import WriteBatcher
from api.db import Database
from api.routes.invoices import evaluation_bytes
from api.tables import AuditEntry

NOW = dt.datetime(2026, 3, 16, 9, 30, tzinfo=dt.UTC)
TTL = dt.timedelta(hours=1)


class Refused(Exception):
    pass


def _db(tmp_path: Path, synchronous: str | None = None) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}", synchronous)
    db.migrate()
    return db


def test_waiting_callers_share_one_commit_and_a_failure_undoes_only_its_own(
        tmp_path: Path) -> None:
    db = _db(tmp_path)
    begins = [0]

    @contextmanager
    def counting_begin() -> Iterator[Session]:
        begins[0] += 1
        with db.write() as s:
            yield s

    batcher = WriteBatcher(counting_begin)
    release = threading.Event()
    first = issue_action(1)

    def slow_first(session: Session) -> tuple[int, bytes]:
        release.wait(30)
        return first(session)

    def refuse_after_allocating(series: str, number: int) -> None:
        raise Refused  # its counter bump and rows are rolled back with it

    with ThreadPoolExecutor(max_workers=6) as pool:
        leader = pool.submit(batcher.run, slow_first)
        while not batcher._leading:
            time.sleep(0.001)
        waiting = [pool.submit(batcher.run, issue_action(n, refuse_after_allocating
                                                          if n == 3 else None))
                   for n in range(2, 7)]
        while len(batcher._queue) < 5:
            time.sleep(0.001)
        release.set()
        assert leader.result()[0] == 201
        outcomes = []
        for future in waiting:
            try:
                outcomes.append(future.result()[0])
            except Refused:
                outcomes.append("refused")
    # the leader alone; the five that queued behind it in one transaction, rolled back whole
    # by the refusal; then the five again, each in its own savepoint, in one transaction
    assert begins[0] == 3
    assert outcomes == [201, "refused", 201, 201, 201]
    assert issued_seqs(db) == [1, 2, 3, 4, 5]  # five issued, the refused one left no gap
    with db.read() as s:
        assert len(list(s.exec(select(AuditEntry)))) == 5
    db.dispose()


def test_a_batch_without_failures_commits_once_without_savepoints(tmp_path: Path) -> None:
    from sqlalchemy import event

    db = _db(tmp_path)
    statements: list[str] = []
    event.listen(db.write_engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql.split()[0].upper()))
    batcher = WriteBatcher(db.write)
    release = threading.Event()
    first = issue_action(1)

    def slow_first(session: Session) -> tuple[int, bytes]:
        release.wait(30)
        return first(session)

    with ThreadPoolExecutor(max_workers=6) as pool:
        leader = pool.submit(batcher.run, slow_first)
        while not batcher._leading:
            time.sleep(0.001)
        waiting = [pool.submit(batcher.run, issue_action(n)) for n in range(2, 7)]
        while len(batcher._queue) < 5:
            time.sleep(0.001)
        release.set()
        assert [f.result()[0] for f in [leader, *waiting]] == [201] * 6
    assert "SAVEPOINT" not in statements and "ROLLBACK" not in statements
    assert issued_seqs(db) == [1, 2, 3, 4, 5, 6]
    db.dispose()


def test_concurrent_issuers_with_rollbacks_leave_no_gap_on_sqlite(tmp_path: Path) -> None:
    import random

    db = _db(tmp_path)
    rolled_back = [0]

    def work(n: int) -> int:
        rng = random.Random(n)  # each attempt rolls back with probability 0.15, then retries
        while True:
            doomed = rng.random() < 0.15

            def after(series: str, number: int, doomed: bool = doomed) -> None:
                if doomed:
                    raise Refused

            try:
                idempotency.run(db, None, TTL, NOW, issue_action(n, after))
                return 1
            except Refused:
                rolled_back[0] += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = sum(pool.map(work, range(300)))
    assert created == 300 and rolled_back[0] >= 20
    assert issued_seqs(db) == list(range(1, 301))
    db.dispose()


def test_same_key_twice_in_one_batch_replays_the_first_response(tmp_path: Path) -> None:
    db = _db(tmp_path)
    req = idempotency.request_for("k-1", "key:1", "POST /v1/invoices",
                                  {"order": order(1)})
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(
            lambda _: idempotency.run(db, req, TTL, NOW, issue_action(1)), range(4)))
    assert sorted(o.replayed for o in outcomes) == [False, True, True, True]
    assert len({o.body for o in outcomes}) == 1
    assert issued_seqs(db) == [1]
    db.dispose()


def test_issued_bytes_are_the_encoded_resource() -> None:
    invoice = FakeEngine().evaluate(fake_bundle("rev-1"), order(1, customer="Zoë"), None)
    canonical = json.dumps(invoice.document, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False).encode()
    got = issuing.issued_bytes(canonical, "T-2026-00001", "T", NOW, "rev-1", invoice.document)
    # windows of 30 and 7 days from the issue date, 2026-03-16
    expected: dict[str, Any] = {
        "number": "T-2026-00001", "series": "T", "status": "issued",
        "issue_date": "2026-03-16", "issued_at": "2026-03-16T09:30:00Z", "revision": "rev-1",
        "invoice": invoice.document, "credit_notes": [], "void": None,
        "windows": {"credit_notes": {"allowed": True, "until": "2026-04-15"},
                    "void": {"allowed": True, "until": "2026-03-23"}}}
    assert got == idempotency.encode(expected)


def test_evaluation_bytes_are_the_encoded_evaluation() -> None:
    invoice = FakeEngine().evaluate(fake_bundle("rev-1"), order(1), None)
    expected = {"revision": "rév-1", "blocked": False, "invoice": invoice.document}
    assert evaluation_bytes(invoice, "rév-1") == idempotency.encode(expected)


@pytest.mark.parametrize(("setting", "pragma"), [(None, 2), ("full", 2), ("normal", 1)])
def test_sqlite_synchronous_setting(tmp_path: Path, setting: str | None, pragma: int,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BILLPLANE_SQLITE_SYNCHRONOUS", raising=False)
    db = _db(tmp_path, setting)
    with db.write() as s:
        assert s.connection().execute(text("PRAGMA synchronous")).scalar() == pragma
    db.dispose()


def test_sqlite_synchronous_from_the_environment_and_refused_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLPLANE_SQLITE_SYNCHRONOUS", "normal")
    assert Database(f"sqlite:///{tmp_path / 'a.db'}").sqlite_synchronous == "normal"
    with pytest.raises(ValueError, match="full, normal"):
        Database(f"sqlite:///{tmp_path / 'b.db'}", "off")


def test_serve_workers_get_the_resolved_settings_through_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli.cmd_serve import _export
    from api.settings import Settings

    # a private copy of the environment: what _export sets must not reach other tests
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLPLANE_")}
    monkeypatch.setattr(os, "environ", env)
    chosen = Settings(database_url="sqlite:///x.db", sqlite_synchronous="normal",
                      policies=None, repo=tmp_path, branch="live", subdir="rules",
                      poll_interval=7.0, backend="cel-python", sandbox=True, allow_dirty=True,
                      max_body_bytes=5000, max_lines=20, max_period_days=400,
                      max_order_days_ahead=3, idempotency_ttl=dt.timedelta(hours=36))
    _export(chosen)
    worker = Settings.from_env()
    assert (worker.database_url, worker.sqlite_synchronous, worker.repo, worker.branch,
            worker.subdir, worker.poll_interval, worker.backend, worker.sandbox) == (
        "sqlite:///x.db", "normal", tmp_path.resolve(), "live", "rules", 7.0, "cel-python", True)
    assert (worker.allow_dirty, worker.max_body_bytes, worker.max_lines, worker.max_period_days,
            worker.max_order_days_ahead, worker.idempotency_ttl) == (
        True, 5000, 20, 400, 3, dt.timedelta(hours=36))
    assert "BILLPLANE_POLICIES" not in os.environ


class Deadlock(Exception):
    sqlstate = "40P01"  # what psycopg reports when PostgreSQL breaks a deadlock


def test_a_batch_runs_in_key_order_and_is_retried_whole_after_a_deadlock(
        tmp_path: Path) -> None:
    db = _db(tmp_path)
    batcher = WriteBatcher(db.write)
    release = threading.Event()
    ran: list[str] = []
    lost = [False]

    def step(name: str, n: int, lose: bool = False) -> Any:
        issue = issue_action(n)

        def fn(session: Session) -> tuple[int, bytes]:
            ran.append(name)
            if lose and not lost[0]:
                lost[0] = True
                raise Deadlock  # after the works before it allocated their numbers
            return issue(session)

        return fn

    def hold(session: Session) -> int:
        release.wait(30)
        return 0

    with ThreadPoolExecutor(max_workers=4) as pool:
        leader = pool.submit(batcher.run, hold, "")
        while not batcher._leading:
            time.sleep(0.001)
        # arriving as series C, A, B: run as A, B, C
        futures = [pool.submit(batcher.run, step("C", 3), "C"),
                   pool.submit(batcher.run, step("A", 1), "A"),
                   pool.submit(batcher.run, step("B", 2, lose=True), "B")]
        while len(batcher._queue) < 3:
            time.sleep(0.001)
        release.set()
        leader.result()
        statuses = [f.result()[0] for f in futures]
    assert statuses == [201, 201, 201]  # nobody saw the deadlock
    assert ran == ["A", "B", "A", "B", "C"]  # the whole batch ran again, in key order
    assert issued_seqs(db) == [1, 2, 3]  # A's first number was rolled back with the batch: no gap
    db.dispose()


def test_a_deadlock_that_keeps_coming_is_a_503_to_retry(tmp_path: Path) -> None:
    from api.errors import ApiError

    db = _db(tmp_path)
    calls = [0]

    def always(session: Session) -> None:
        calls[0] += 1
        raise Deadlock

    with pytest.raises(ApiError) as caught:
        WriteBatcher(db.write).run(always)
    assert (caught.value.code, caught.value.status) == ("store_busy", 503)
    assert calls[0] == 6
    db.dispose()
