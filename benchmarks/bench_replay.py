"""Replay benchmark: synthetic histories under two revisions, full and pruned.

    python benchmarks/bench_replay.py --orders 100000 --jobs 2

Builds a throw-away git repository of retail policies (a catch-all RETAIL-GOODS product, UK VAT
and a few EU VAT rules), a head revision that changes one tax rate (Germany 19% -> 20% from
2011-06-01: a narrow change), a synthetic history from the real Online Retail distributions,
then replays it with pruning off and on. Prints orders/s, wall time and peak memory
(ru_maxrss of this process and of its largest child), and the speed of the machine itself
before and after (`bench_eval`'s hand-written floor, invoices/s on one core): this machine is
shared, and replay figures from different runs compare only beside it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_eval import machine_floor

from sandbox.engine_port import RevisionSpec
from sandbox.replay import ReplayConfig, replay

EU = {"DE": 19, "FR": 19.6, "IE": 21, "ES": 18, "NL": 19, "BE": 21, "PT": 23, "IT": 20}


def _policies(de_rate: str) -> dict[str, str]:
    docs = ["""apiVersion: billplane.dev/v1
kind: PriceBook
metadata: {name: retail, owner: revops}
spec:
  products:
    - sku: RETAIL-GOODS
      name: Retail goods (price given on each line)
      type: one_off
      prices:
        - {currency: GBP, model: per_unit, unit_amount: 1.00}
""", """apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: uk-vat, owner: tax}
spec:
  tax: vat
  jurisdiction: {country: GB}
  rates:
    - {rate: 17.5, effective: {from: 2010-01-01, until: 2011-01-04}}
    - {rate: 20, effective: {from: 2011-01-04}}
"""]
    for country, rate in EU.items():
        rates = f"    - {{rate: {rate}, effective: {{from: 2000-01-01}}}}\n"
        if country == "DE":
            rates = (f"    - {{rate: 19, effective: {{from: 2000-01-01, until: 2011-06-01}}}}\n"
                     f"    - {{rate: {de_rate}, effective: {{from: 2011-06-01}}}}\n")
        docs.append(f"""apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {{name: vat-{country.lower()}, owner: tax}}
spec:
  tax: vat
  jurisdiction: {{country: {country}}}
  rates:
{rates}""")
    # every other destination is covered too (an uncovered one is an evaluation error)
    docs.append("""apiVersion: billplane.dev/v1
kind: TaxRule
metadata: {name: rest-of-world, owner: tax}
spec:
  tax: vat
  jurisdiction: {country: "*"}
  not_taxed: {code: export, reason: "Outside the scope of UK VAT"}
""")
    return {"retail.yaml": docs[0], "tax.yaml": "---\n".join(docs[1:])}


def _git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
           "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def _revision(repo: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (repo / "policies").mkdir(parents=True, exist_ok=True)
        (repo / "policies" / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "policies")
    return _git(repo, "rev-parse", "HEAD")


def _peak_mib() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return me, children


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-full", action="store_true", help="only the pruned replay")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        root = Path(tmp)
        repo = root / "repo"
        repo.mkdir()
        _git(repo, "init", "-q", "-b", "main")
        base = _revision(repo, _policies("19"))
        head = _revision(repo, _policies("20"))
        # the history is generated while it is replayed (streamed, never on disk)
        results: dict[str, object] = {"orders": args.orders, "jobs": args.jobs}
        gauge = {"before": round(machine_floor())}
        seconds: dict[str, float] = {}
        for label, prune in (("full", False), ("pruned", True)):
            if label == "full" and args.skip_full:
                continue
            cfg = ReplayConfig(RevisionSpec(str(repo), base), RevisionSpec(str(repo), head),
                               f"generate:{args.orders}:{args.seed}", jobs=args.jobs,
                               prune=prune, chunk=500, progress=False)
            result = replay(cfg)
            seconds[label] = result.seconds
            c = result.aggregate.counts
            results[label] = {"wall_s": round(result.seconds, 1),
                              "evaluated": c["evaluated"], "skipped": c["skipped"],
                              "changed": c["changed"],
                              "orders_per_s": round(args.orders / result.seconds),
                              "evaluated_per_s": round(c["evaluated"] / result.seconds)}
        # the ratio of the measured times (a small run's rounded wall time can be 0.0)
        walls = dict(seconds)
        gauge["after"] = round(machine_floor())
        results["machine_floor_invoices_per_s"] = gauge
        if len(walls) == 2:
            results["pruning_speedup"] = round(walls["full"] / max(walls["pruned"], 1e-9), 1)
        me, child = _peak_mib()
        results["peak_rss_mib"] = {"self": round(me), "largest_child": round(child),
                                   "self_plus_children": round(me + child * args.jobs)}
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
