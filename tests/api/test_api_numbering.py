"""Gapless numbering: concurrent issuers with rollbacks, and a process killed mid-issue."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from api_fakes import FakeEngine, fake_bundle, order
from sqlmodel import select

from api import idempotency, issuing
from api.db import Database
from api.tables import AuditEntry, Invoice

NOW = dt.datetime(2026, 3, 16, tzinfo=dt.UTC)
TTL = dt.timedelta(hours=1)


class ForcedRollback(Exception):
    pass


def _issue(db: Database, n: int, after: Any = None) -> bytes:
    engine = FakeEngine()
    bundle = fake_bundle("rev-1")
    o = order(n)
    invoice = engine.evaluate(bundle, o, None)

    def action(session: Any) -> tuple[int, dict[str, Any]]:
        return 201, issuing.issue(session, engine, bundle, invoice, o, "test", NOW, after)

    return idempotency.run(db, None, TTL, NOW, action).body


def _seqs(db: Database) -> list[int]:
    with db.read() as s:
        return sorted(r.seq for r in s.exec(select(Invoice)))


@pytest.mark.postgres
@pytest.mark.slow
def test_eight_workers_thousand_invoices_with_rollbacks_leave_no_gap(pg_url: str) -> None:
    db = Database(pg_url)
    db.migrate()
    attempts = 1000

    def rollback_some(series: str, number: int) -> None:
        # every 9th allocation is abandoned after the counter row was locked and bumped
        if number % 9 == 0:
            raise ForcedRollback

    def work(n: int) -> bool:
        try:
            _issue(db, n, rollback_some)
            return True
        except ForcedRollback:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(work, range(attempts)))
    created = sum(outcomes)
    assert 0 < created < attempts  # some did roll back
    seqs = _seqs(db)
    assert seqs == list(range(1, created + 1))  # 1..N, no gap, no duplicate
    with db.read() as s:
        issued = list(s.exec(select(AuditEntry).where(AuditEntry.action == "issue")))
    assert len(issued) == created
    db.dispose()


def test_sigkill_between_allocation_and_commit_leaves_no_trace(database_url: str,
                                                               tmp_path: Path) -> None:
    db = Database(database_url)
    db.migrate()
    _issue(db, 1)
    _issue(db, 2)
    marker = tmp_path / "allocated"
    worker = Path(__file__).with_name("crash_worker.py")
    proc = subprocess.Popen([sys.executable, str(worker), database_url, str(marker)])
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the worker ended before allocating"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert marker.read_text() == "T 3"  # it held number 3, uncommitted
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert _seqs(db) == [1, 2]  # no half-written invoice
    _issue(db, 4)
    assert _seqs(db) == [1, 2, 3]  # number 3 was not lost: no gap
    db.dispose()
