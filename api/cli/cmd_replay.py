"""`billplane replay`: evaluate a history under two revisions and report what changes."""

from __future__ import annotations

import argparse
import sys

from api.cli.options import add_backend
from sandbox.engine_port import DEFAULT_PORT, RevisionSpec
from sandbox.output import write_reports
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build, name_revisions
from sandbox.report_md import render

HELP = "replay historical orders under two policy revisions and diff them in money"


def add_replay_arguments(parser: argparse.ArgumentParser, orders_required: bool = True) -> None:
    """Options shared by `replay` and `ci`."""
    parser.add_argument("--orders", required=orders_required, metavar="SOURCE",
                        help="orders.jsonl, an Online Retail .csv, generate:COUNT[:SEED] or a "
                             "database URL (?from=DATE&until=DATE)")
    parser.add_argument("--repo", default=".", help="git repository (default: .)")
    parser.add_argument("--policies-dir", default="policies",
                        help="policy folder inside the repository (default: policies)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--no-prune", action="store_true",
                        help="replay every order, not only those the change can affect")
    parser.add_argument("--base-totals", action="store_true",
                        help="also evaluate pruned orders under the base revision, so that "
                             "totals and percentages cover the whole history")
    parser.add_argument("--dask", default="", metavar="local|ADDRESS",
                        help="run chunks on Dask distributed (needs billplane[dask])")
    add_backend(parser)
    parser.add_argument("--top", type=int, default=100, help="largest changes kept")
    parser.add_argument("--chunk", type=int, default=250, help="orders per work unit")
    parser.add_argument("--engine-port", default=DEFAULT_PORT, help=argparse.SUPPRESS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane replay`."""
    parser.add_argument("--base", required=True, help="base revision (branch, tag, SHA)")
    parser.add_argument("--head", required=True, help="head revision")
    add_replay_arguments(parser)
    parser.add_argument("--out", help="write replay.md, replay.json and replay.html here")


def config_from(args: argparse.Namespace, orders: str) -> ReplayConfig:
    """A ReplayConfig from parsed arguments."""
    return ReplayConfig(
        base=RevisionSpec(args.repo, args.base, args.policies_dir, args.backend),
        head=RevisionSpec(args.repo, args.head, args.policies_dir, args.backend),
        source=orders, jobs=max(1, args.jobs), prune=not args.no_prune, chunk=args.chunk,
        top_n=args.top, port=args.engine_port, dask=args.dask, base_totals=args.base_totals)


def run(args: argparse.Namespace) -> int:
    """Print the Markdown summary; exit 0 (differences are findings, not failures)."""
    from ci.check import uncommitted

    dirty = uncommitted(args.repo, args.head, args.policies_dir)
    if dirty:  # the replay reads commits: an edit not committed is not in it
        print(f"note: {len(dirty)} uncommitted change(s) in {args.policies_dir} are not part of "
              f"this replay, which reads the commit {args.head} names: "
              f"{', '.join(dirty[:5])}{' and more' if len(dirty) > 5 else ''}", file=sys.stderr)
    result = replay(config_from(args, args.orders))
    report = build(result)
    name_revisions(report, args.repo, {"base": args.base, "head": args.head})
    if args.out:
        paths = write_reports(args.out, report)
        print(f"reports: {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    sys.stdout.write(render(report))
    return 0
