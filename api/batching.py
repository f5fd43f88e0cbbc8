"""Group commit: concurrent write transactions of one process share one commit.

A commit waits for the disk (an fsync of a few milliseconds), and issuing holds the series
counter row locked until its commit ends, so one series issues at most one invoice per disk
sync when every issue commits alone. Here the first caller to arrive leads: it takes every
piece of work queued so far, runs each in its own savepoint of one transaction, commits once
and hands each caller its own result or error. Callers arriving meanwhile form the next batch.

What each issue guarantees is unchanged: its number, invoice, audit entry and idempotency
record are written in the transaction that allocates the number, and a failed piece of work
is rolled back to its savepoint (counter increment included), so it leaves no gap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlmodel import Session

MAX_BATCH = 64


class _Work:
    """One caller's work and, once the batch is committed, its result or error."""

    __slots__ = ("fn", "result", "error", "done")

    def __init__(self, fn: Callable[[Session], Any]) -> None:
        self.fn = fn
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

    def run(self, fn: Callable[[Session], Any]) -> Any:
        """`fn(session)` committed (or its error raised) once its batch ends."""
        work = _Work(fn)
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
        try:
            if len(batch) == 1:
                # alone: no savepoint needed, an error rolls the whole transaction back
                only = batch[0]
                try:
                    with self.begin() as session:
                        only.result = only.fn(session)
                except BaseException as exc:  # noqa: BLE001 - handed to its caller
                    only.error = exc
                return
            with self.begin() as session:
                for work in batch:
                    savepoint = session.begin_nested()
                    try:
                        work.result = work.fn(session)
                        savepoint.commit()
                    except Exception as exc:  # noqa: BLE001 - handed to its caller
                        savepoint.rollback()
                        work.error = exc
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing was stored
            for work in batch:
                if work.error is None:
                    work.result, work.error = None, exc
        finally:
            for work in batch:
                work.done = True
