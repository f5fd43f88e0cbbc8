"""Issues one invoice and stops dead between number allocation and commit (for a SIGKILL)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_fakes import FakeEngine, fake_bundle, order  # noqa: E402

from api import idempotency, issuing  # noqa: E402
from api.db import Database  # noqa: E402


def main(url: str, marker: str) -> None:
    db = Database(url)
    engine = FakeEngine()
    bundle = fake_bundle("rev-crash")
    invoice = engine.evaluate(bundle, order(99), None)

    def stall(series: str, number: int) -> None:
        Path(marker).write_text(f"{series} {number}")
        time.sleep(120)  # the parent kills us here

    def action(session: object) -> tuple[int, dict[str, object]]:
        return 201, issuing.issue(session, engine, bundle, invoice, order(99),  # type: ignore[arg-type]
                                  "crash", _now(), stall)

    idempotency.run(db, None, idempotency.dt.timedelta(hours=1), _now(), action)


def _now() -> idempotency.dt.datetime:
    return idempotency.dt.datetime(2026, 3, 16, tzinfo=idempotency.dt.UTC)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
