"""HTTP throughput of the service on loopback: evaluate vs a no-op endpoint, and issuing.

Starts the app with uvicorn in a subprocess (the example policies, a fresh store), then loads
it from this process with httpx and threads. Prints requests/s and p50/p99 latency for
`GET /healthz` (no-op) and `POST /v1/invoices/evaluate` (a 10-line order) in the same run,
the ratio (goal >= 50 %), and issuing throughput on SQLite and PostgreSQL (goal >= 300/s).

    python benchmarks/bench_api.py [--seconds 5] [--threads 8] [--no-postgres]

The server accepts the example policies even when their PolicyTests do not pass yet: this
measures throughput, not policy correctness (the service itself never does that).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
ADMIN_KEY = "bpk_benchadmin01_" + "x" * 43

CUSTOMER = {"id": "C-UK-BENCH", "name": "Bench Ltd", "country": "GB", "type": "business",
            "tax_id": "GB123456789", "segment": "smb",
            "address": {"line1": "1 Road", "city": "Leeds", "postcode": "LS1 1AA",
                        "country": "GB"}}
PERIOD = {"start": "2026-03-01", "end": "2026-04-01"}


def ten_line_order(n: int) -> dict[str, Any]:
    """A 10-line UK order over the example catalogue."""
    skus = ["SEAT-MONTHLY", "ONBOARDING", "TRAINING-DAY", "SEAT-MONTHLY", "ONBOARDING",
            "TRAINING-DAY", "SEAT-MONTHLY", "ONBOARDING", "TRAINING-DAY", "SEAT-MONTHLY"]
    lines = [{"sku": sku, "quantity": str(i + 1), **({"period": PERIOD} if "SEAT" in sku else {})}
             for i, sku in enumerate(skus)]
    return {"id": f"BENCH-{n}", "date": "2026-03-01", "currency": "GBP",
            "seller": "northwind-uk", "customer": CUSTOMER, "lines": lines}


def serve(port: int, database_url: str) -> None:
    """The server process: the example policies, tests not required (see module doc)."""
    import uvicorn

    from api.app import create_app
    from api.port import RealEngine
    from api.settings import Settings

    class ThroughputEngine(RealEngine):
        def run_tests(self, bundle: Any) -> tuple[bool, str]:
            return True, ""

    settings = Settings(database_url=database_url, policies=ROOT / "policies",
                        bootstrap_admin_key=ADMIN_KEY, idempotency_ttl=Settings().idempotency_ttl)
    app = create_app(settings, port=ThroughputEngine())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), database_url],
                            cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not become ready")


def load(base: str, method: str, path: str, body_for: Any, seconds: float,
         threads: int, expect: int) -> dict[str, float]:
    """Requests/s and latency percentiles of one endpoint under `threads` clients."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    counter = iter(range(10**9))

    def client() -> None:
        mine: list[float] = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
                          timeout=30) as c:
            while time.monotonic() < stop:
                body = body_for(next(counter)) if body_for else None
                t0 = time.perf_counter()
                r = c.request(method, path, json=body)
                mine.append(time.perf_counter() - t0)
                if r.status_code != expect:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    pool = [threading.Thread(target=client) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"rps": len(latencies) / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "n": len(latencies), "errors": errors[0]}


def show(name: str, r: dict[str, float]) -> None:
    print(f"{name:<34} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
          f"p99 {r['p99_ms']:7.2f} ms  n={int(r['n'])} errors={int(r['errors'])}")


def run_store(label: str, url: str, seconds: float, threads: int, compare: bool) -> None:
    proc, base = start(url)
    try:
        if compare:
            noop = load(base, "GET", "/healthz", None, seconds, threads, 200)
            evaluate = load(base, "POST", "/v1/invoices/evaluate",
                            lambda n: {"order": ten_line_order(n)}, seconds, threads, 200)
            show("no-op GET /healthz", noop)
            show("evaluate (10 lines)", evaluate)
            ratio = evaluate["rps"] / noop["rps"] if noop["rps"] else 0.0
            print(f"{'evaluate / no-op throughput':<34} {ratio:8.1%}  (goal >= 50%)")
        issue = load(base, "POST", "/v1/invoices", lambda n: {"order": ten_line_order(n)},
                     seconds, threads, 201)
        show(f"issue on {label}", issue)
        print(f"{'':<34} goal >= 300/s: {'met' if issue['rps'] >= 300 else 'NOT met'}")
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    print(f"cpus={os.cpu_count()} threads={args.threads} seconds={args.seconds} each")
    with tempfile.TemporaryDirectory() as tmp:
        run_store("SQLite", f"sqlite:///{tmp}/bench.db", args.seconds, args.threads, True)
    if args.no_postgres:
        return
    import psycopg

    schema = "bench_" + uuid.uuid4().hex[:10]
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError:
        print("PostgreSQL not reachable at 127.0.0.1:5432: skipped")
        return
    try:
        run_store("PostgreSQL", f"{PG_ADMIN}?options=-csearch_path%3D{schema}", args.seconds,
                  args.threads, False)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
