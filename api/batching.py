"""Group commit: concurrent write transactions of one process share one commit.

A commit waits for the disk (an fsync of a few milliseconds), and issuing holds the series
counter row locked until its commit ends, so one series issues at most one invoice per disk
sync when every issue commits alone. Here the first caller to arrive leads: it takes every
piece of work queued so far, runs it in one transaction, commits once and hands each caller
its own result or error. Callers arriving meanwhile form the next batch. The batch first runs
without savepoints (each costs two round trips while the counter row is locked); when a piece
of work fails, that transaction is rolled back whole and the batch runs again with each piece
in its own savepoint, so the failure undoes only its own writes.

What each issue guarantees is unchanged: its number, invoice, audit entry and idempotency
record are written in the transaction that allocates the number, and a failed piece of work
leaves nothing behind (counter increment included), so it leaves no gap.

Several processes lock several series counters at once: each batch runs its work sorted by
the key the caller gives (the series), so two batches take counter locks in one order. What
ordering cannot rule out (a same-key idempotency insert, a credit note's invoice row) is
handled by the database's deadlock detection: a batch that loses a deadlock or a
serialisation check is rolled back whole and run again, so no caller sees that error and no
number is lost (the rolled-back increments never happened).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlmodel import Session

MAX_BATCH = 64
# deadlock detected, serialisation failure, lock not available (PostgreSQL SQLSTATEs)
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001", "55P03"})
MAX_ATTEMPTS = 6


def retryable(exc: BaseException) -> bool:
    """True for a database error that a fresh attempt of the transaction can clear."""
    for err in (exc, getattr(exc, "orig", None), exc.__cause__):
        if getattr(err, "sqlstate", None) in RETRYABLE_SQLSTATES:
            return True
    return False


class _Retry(Exception):
    """The batch lost a deadlock: roll it back whole and run it again."""


class _Apart(Exception):
    """A piece of work failed in a batch run without savepoints: run the batch with them."""


class _Work:
    """One caller's work and, once the batch is committed, its result or error."""

    __slots__ = ("fn", "key", "result", "error", "done")

    def __init__(self, fn: Callable[[Session], Any], key: str) -> None:
        self.fn = fn
        self.key = key
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False


class WriteBatcher:
    """Runs work in write transactions opened by `begin()`, batching concurrent callers."""

    def __init__(self, begin: Callable[[], AbstractContextManager[Session]],
                 max_batch: int = MAX_BATCH) -> None:
        self.begin = begin
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: list[_Work] = []
        self._leading = False

    def run(self, fn: Callable[[Session], Any], key: str = "") -> Any:
        """`fn(session)` committed (or its error raised) once its batch ends; within a batch
        work runs in `key` order (the lock it takes first, e.g. its series)."""
        work = _Work(fn, key)
        with self._cond:
            self._queue.append(work)
        while True:
            with self._cond:
                while self._leading and not work.done:
                    self._cond.wait()
                if work.done:
                    break
                self._leading = True
                batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if work.error is not None:
            raise work.error
        return work.result

    def _commit(self, batch: list[_Work]) -> None:
        batch.sort(key=lambda w: w.key)  # stable: arrival order within one key
        try:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    self._attempt(batch, last=attempt == MAX_ATTEMPTS - 1)
                    return
                except _Retry:
                    # back off a little, at random, so the two sides do not meet again
                    time.sleep(random.uniform(0, 0.002 * 2 ** attempt))
        finally:
            for work in batch:
                work.done = True

    def _attempt(self, batch: list[_Work], last: bool) -> None:
        for work in batch:
            work.result, work.error = None, None
        try:
            if len(batch) == 1:
                # alone: no savepoint needed, an error rolls the whole transaction back
                only = batch[0]
                try:
                    with self.begin() as session:
                        only.result = only.fn(session)
                except BaseException as exc:  # noqa: BLE001 - handed to its caller
                    if retryable(exc) and not last:
                        raise _Retry from exc
                    only.result, only.error = None, _busy(exc) if retryable(exc) else exc
                return
            if not self._together(batch, last):
                self._apart(batch, last)
        except _Retry:
            raise
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing was stored
            if retryable(exc) and not last:
                raise _Retry from exc
            for work in batch:
                if work.error is None:
                    work.result, work.error = None, _busy(exc) if retryable(exc) else exc

    def _together(self, batch: list[_Work], last: bool) -> bool:
        """The batch in one transaction without savepoints (two statements fewer per piece
        of work, each a round trip while the counter row is locked); False, with nothing
        stored, when a piece of work failed and the batch must run apart."""
        try:
            with self.begin() as session:
                for work in batch:
                    try:
                        work.result = work.fn(session)
                    except Exception as exc:
                        if retryable(exc) and not last:
                            raise _Retry from exc
                        raise _Apart from exc
        except _Apart:
            for work in batch:
                work.result = None
            return False
        return True

    def _apart(self, batch: list[_Work], last: bool) -> None:
        """The batch in one transaction, each piece of work in its own savepoint, so a
        failure undoes only its own writes (its counter increment included)."""
        with self.begin() as session:
            for work in batch:
                savepoint = session.begin_nested()
                try:
                    work.result = work.fn(session)
                    savepoint.commit()
                except Exception as exc:  # noqa: BLE001 - handed to its caller
                    savepoint.rollback()
                    if retryable(exc) and not last:
                        raise _Retry from exc
                    work.error = _busy(exc) if retryable(exc) else exc


def _busy(exc: BaseException) -> BaseException:
    """What a caller gets when every attempt lost a deadlock: a 503 to retry, not a 500."""
    from api.errors import ApiError

    busy = ApiError("store_busy", "the store is busy; retry the request (with the same "
                    "Idempotency-Key)", status=503)
    busy.__cause__ = exc
    return busy
