"""The in-process benchmark scripts still run against the code they measure.

Each runs once with tiny sizes; only that it completes and prints its figures is checked
(the figures themselves are machine-dependent and are not asserted).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent.parent / "benchmarks"


def _run(*args: str) -> str:
    out = subprocess.run([sys.executable, *args], cwd=BENCH.parent, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_bench_cel_prints_every_measurement() -> None:
    out = _run(str(BENCH / "bench_cel.py"), "--lines", "2", "--rules", "3", "--seconds",
               "0.01")
    rows = re.findall(r"^(.+?)\s+([0-9.]+) us$", out, re.M)
    labels = [label for label, _ in rows]
    assert any("line strategy batched" in label for label in labels), out
    assert all(float(us) > 0 for _, us in rows)


def test_bench_eval_compares_with_the_floor() -> None:
    out = _run(str(BENCH / "bench_eval.py"), "--seconds", "0.05")
    assert re.search(r"^floor \(hand-written Python\)\s+\d+ invoices/s", out, re.M), out
    assert re.search(r"^engine, cel-expr\s+\d+ invoices/s .* the floor$", out, re.M), out


def test_bench_replay_reports_both_replays_and_the_machine() -> None:
    out = json.loads(_run(str(BENCH / "bench_replay.py"), "--orders", "300", "--jobs", "1"))
    full, pruned = out["full"], out["pruned"]
    assert full["evaluated"] == 300 and full["skipped"] == 0
    # pruning skips orders the change cannot touch, and finds the same changes
    assert pruned["evaluated"] + pruned["skipped"] == 300 and pruned["skipped"] > 0
    assert pruned["changed"] == full["changed"] > 0
    assert out["machine_floor_invoices_per_s"]["before"] > 0
    assert out["machine_floor_invoices_per_s"]["after"] > 0
