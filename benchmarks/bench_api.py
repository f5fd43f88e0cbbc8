"""HTTP throughput of the service on loopback: evaluate vs a no-op endpoint, and issuing.

Starts the app with uvicorn in a subprocess (the example policies, a fresh store; `--workers`
server processes, uvloop and httptools when installed, no access log), then loads it from this
process with an asyncio client on raw keep-alive sockets (`--connections` of them; one process,
so the client costs the server little CPU). Prints requests/s and p50/p99 latency in the same
run for two no-op endpoints, `GET /healthz` and `POST /bench/noop` (added to the app here: it
reads the same request body as evaluate and answers `{}`), and for `POST /v1/invoices/evaluate`
(a 10-line order; also with `"trace": false`), the ratios (goal >= 50 %), and issuing
throughput on SQLite and PostgreSQL (goal >= 300/s), without and with an Idempotency-Key
on each request (as billing systems send it: the key is stored with the response). Before and
after, the machine's own speed (`bench_eval`'s floor), since this machine is shared: absolute
figures of different runs compare only beside it.

    python benchmarks/bench_api.py [--seconds 5] [--workers 2] [--connections 16]
                                   [--sqlite-synchronous full|normal] [--no-postgres]

The server accepts the example policies even when their PolicyTests do not pass yet: this
measures throughput, not policy correctness (the service itself never does that).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import Request, Response

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
    # the order is over the smb credit limit: its credit approval releases the hold
    return {"id": f"BENCH-{n}", "date": "2026-03-01", "currency": "GBP",
            "seller": "northwind-uk", "customer": CUSTOMER, "lines": lines,
            "approvals": ["credit"]}


def bench_app() -> Any:
    """The app one server worker runs (the store's URL comes from BENCH_DATABASE_URL)."""
    from api.app import create_app
    from api.port import RealEngine
    from api.settings import Settings

    class ThroughputEngine(RealEngine):
        def run_tests(self, bundle: Any) -> tuple[bool, str]:
            return True, ""

    settings = Settings.from_env(database_url=os.environ["BENCH_DATABASE_URL"],
                                 policies=ROOT / "policies", bootstrap_admin_key=ADMIN_KEY,
                                 allow_dirty=True)
    app = create_app(settings, port=ThroughputEngine())

    @app.post("/bench/noop", include_in_schema=False)
    async def noop(request: Request) -> Response:
        """Receives a request like evaluate's and does nothing with it."""
        await request.body()
        return Response(b"{}", media_type="application/json")

    return app


def serve(port: int, database_url: str, workers: int) -> None:
    """The server process: the example policies, tests not required (see module doc)."""
    import uvicorn

    os.environ["BENCH_DATABASE_URL"] = database_url
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    uvicorn.run("bench_api:bench_app", factory=True, host="127.0.0.1", port=port,
                workers=workers, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(database_url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    try:
        import httpx
    except ImportError:
        raise SystemExit("bench_api needs httpx: install the test extra "
                         "(pip install -e '.[test]')") from None
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), database_url,
                             "--workers", str(workers)], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"

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


def _request(method: str, path: str, body: Any, key: str = "") -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    extra = f"Idempotency-Key: {key}\r\n" if key else ""
    head = (f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {ADMIN_KEY}\r\n"
            f"{extra}Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


async def _client(port: int, requests: Any, stop: float, latencies: list[float],
                  statuses: list[int], delay: float = 0.0) -> None:
    import asyncio

    # connections opened a few milliseconds apart, as clients do: opened in one burst, the
    # worker process that is awake first accepts them all and the others stay idle
    await asyncio.sleep(delay)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            writer.write(next(requests))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            statuses.append(int(head[9:12]))
    finally:
        writer.close()


def load(base: str, method: str, path: str, body_for: Any, seconds: float,
         connections: int, expect: int, keyed: bool = False) -> dict[str, float]:
    """Requests/s and latency percentiles of one endpoint over `connections` keep-alive
    connections, each sending its next request when the previous answer is in (`keyed`:
    each request with its own Idempotency-Key)."""
    import asyncio

    port = int(base.rsplit(":", 1)[1])
    # requests are built before the clock starts: the client should spend its CPU on I/O
    count = int(seconds * 2000) + 500 if body_for else 1
    run = uuid.uuid4().hex[:8]
    prepared = [_request(method, path, body_for(n) if body_for else None,
                         f"bench-{run}-{n}" if keyed else "") for n in range(count)]
    requests = itertools.cycle(prepared)
    latencies: list[float] = []
    statuses: list[int] = []

    async def main() -> float:
        stop = time.monotonic() + seconds
        started = time.monotonic()
        await asyncio.gather(*(_client(port, requests, stop, latencies, statuses, k * 0.01)
                               for k in range(connections)))
        return time.monotonic() - started

    cpu0 = time.process_time()
    elapsed = asyncio.run(main())
    client_cpu = (time.process_time() - cpu0) / elapsed
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"rps": len(latencies) / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "n": len(latencies), "errors": sum(1 for st in statuses if st != expect),
            "client_cpu": client_cpu}


def show(name: str, r: dict[str, float]) -> None:
    print(f"{name:<34} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
          f"p99 {r['p99_ms']:7.2f} ms  n={int(r['n'])} errors={int(r['errors'])}  "
          f"client cpu {r['client_cpu']:.0%}")


def run_store(label: str, url: str, seconds: float, threads: int, compare: bool,
              workers: int) -> None:
    proc, base = start(url, workers)
    try:
        if compare:
            body = lambda n: {"order": ten_line_order(n)}  # noqa: E731
            noop = load(base, "GET", "/healthz", None, seconds, threads, 200)
            post = load(base, "POST", "/bench/noop", body, seconds, threads, 200)
            evaluate = load(base, "POST", "/v1/invoices/evaluate", body, seconds, threads, 200)
            bare = load(base, "POST", "/v1/invoices/evaluate",
                        lambda n: {"order": ten_line_order(n), "trace": False}, seconds,
                        threads, 200)
            show("no-op GET /healthz", noop)
            show("no-op POST (same body)", post)
            show("evaluate (10 lines)", evaluate)
            show("evaluate, trace: false", bare)
            for name, r in (("GET /healthz", noop), ("POST no-op", post)):
                for what, e in (("evaluate", evaluate), ("untraced", bare)):
                    ratio = e["rps"] / r["rps"] if r["rps"] else 0.0
                    print(f"{what + ' / ' + name:<34} {ratio:8.1%}  (goal >= 50%)")
        for keyed in (False, True):
            # the keyed run's orders are others (ids from 10**6): every request issues anew
            issue = load(base, "POST", "/v1/invoices",
                         lambda n, k=keyed: {"order": ten_line_order(n + 10**6 * k)},
                         seconds, threads, 201, keyed)
            show(f"issue on {label}" + (", with keys" if keyed else ""), issue)
            print(f"{'':<34} goal >= 300/s: {'met' if issue['rps'] >= 300 else 'NOT met'}")
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="server processes")
    parser.add_argument("--sqlite-synchronous", choices=["full", "normal"], default=None,
                        help="default: BILLPLANE_SQLITE_SYNCHRONOUS or full")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.workers)
        return
    if args.sqlite_synchronous:
        os.environ["BILLPLANE_SQLITE_SYNCHRONOUS"] = args.sqlite_synchronous
    sync = os.environ.get("BILLPLANE_SQLITE_SYNCHRONOUS", "full")
    print(f"cpus={os.cpu_count()} server workers={args.workers} connections={args.connections}"
          f" seconds={args.seconds} each, SQLite synchronous={sync}")
    _gauge("before")
    try:
        run_stores(args)
    finally:
        _gauge("after")


def _gauge(when: str) -> None:
    """The machine's own speed (bench_eval's floor): figures of runs compare only beside it."""
    from bench_eval import machine_floor

    print(f"machine {when}: floor {machine_floor():.0f} invoices/s on one core")


def run_stores(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_store("SQLite", f"sqlite:///{tmp}/bench.db", args.seconds, args.connections, True,
                  args.workers)
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
                  args.connections, False, args.workers)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
