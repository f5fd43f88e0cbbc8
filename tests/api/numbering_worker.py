"""The issuing processes of the numbering test.

Loads the engine and the policies once, then forks PROCESSES worker processes (each with its
own connection pool and group commit, none shared) and releases them together. Each issues
COUNT invoices from several threads through the store's issuing path, some attempts forced
to roll back after their number was allocated; a rolled-back invoice is retried (same
Idempotency-Key) until it is issued. Prints one {"pid", "created", "rollbacks", "errors"} a
process as a JSON list.

    numbering_worker.py DATABASE_URL POLICIES PROCESSES COUNT SEED
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sys
import threading
from pathlib import Path
from typing import Any

from api import idempotency, issuing
from api.db import Database
from api.port import RealEngine

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ("uk-consumer", "eu-b2b-reverse-charge", "us-enterprise-installments")
THREADS = 2
ROLLBACK_RATE = 0.1
NOW = dt.datetime(2026, 3, 16, 9, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(hours=1)


class ForcedRollback(Exception):
    """Raised after a number was allocated: the issue's transaction must leave no trace."""


def work(url: str, engine: RealEngine, bundle: Any, orders: list[dict[str, Any]],
         worker: int, count: int, seed: int) -> dict[str, Any]:
    """One worker process's share; returns its report."""
    db = Database(url)
    rollbacks = [0] * THREADS
    created = [0] * THREADS
    errors: list[str] = []

    def issue_one(thread: int, n: int, rng: random.Random) -> None:
        o = {**orders[(worker + n) % len(orders)], "id": f"W{worker}-T{thread}-{n}"}
        invoice = engine.evaluate(bundle, o, None)
        series = str(invoice.document["series"])
        req = idempotency.request_for(o["id"], "key:1", "numbering-test",
                                            {"order": o})
        while True:
            doomed = rng.random() < ROLLBACK_RATE

            def after(_: str, __: int, doomed: bool = doomed) -> None:
                if doomed:
                    raise ForcedRollback

            def action(session: Any, after: Any = after) -> tuple[int, bytes]:
                return 201, issuing.issue(session, engine, bundle, invoice, o, "test", NOW,
                                          after)

            try:
                outcome = idempotency.run(db, req, TTL, NOW, action, key=series)
            except ForcedRollback:
                rollbacks[thread] += 1
                continue
            assert outcome.status == 201 and not outcome.replayed
            created[thread] += 1
            return

    def run(thread: int) -> None:
        rng = random.Random(f"{seed}-{worker}-{thread}")
        try:
            for n in range(thread, count, THREADS):
                issue_one(thread, n, rng)
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.append(f"{type(exc).__name__}: {exc}"[:500])

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.dispose()
    return {"pid": os.getpid(), "created": sum(created), "rollbacks": sum(rollbacks),
            "errors": errors}


def main(url: str, policies: str, processes: int, count: int, seed: int) -> None:
    engine = RealEngine()
    bundle = engine.load_directory(Path(policies))
    orders = [json.loads((ROOT / "examples" / f"{name}.json").read_text()) for name in EXAMPLES]
    engine.evaluate(bundle, orders[0], None)  # everything lazily built is built before fork
    release_r, release_w = os.pipe()
    children = []
    for worker in range(processes):
        report_r, report_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker process
            os.close(report_r)
            os.read(release_r, 1)  # start together with the others
            try:
                report = work(url, engine, bundle, orders, worker, count, seed)
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                report = {"pid": os.getpid(), "created": 0, "rollbacks": 0,
                          "errors": [type(exc).__name__]}
            os.write(report_w, json.dumps(report).encode())
            os._exit(0)
        os.close(report_w)
        children.append((pid, report_r))
    os.write(release_w, b"x" * processes)
    reports = []
    for pid, report_r in children:
        with os.fdopen(report_r, "rb") as fh:
            reports.append(json.loads(fh.read() or b"{}"))
        os.waitpid(pid, 0)
    print(json.dumps(reports))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
