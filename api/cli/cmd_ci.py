"""`billplane ci`: the policy pull-request check (check, tests, replay, approvals)."""

from __future__ import annotations

import argparse
import os
import sys

from api.cli.cmd_replay import add_replay_arguments
from ci.check import CiOptions, run_ci
from ci.report import render_md, write

HELP = "pull-request check: both revisions load, head tests pass, replay diff, approvals"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane ci`."""
    parser.add_argument("--base", required=True, help="base revision, e.g. origin/main")
    parser.add_argument("--head", default="HEAD", help="head revision (default: HEAD)")
    add_replay_arguments(parser, orders_required=False)
    parser.set_defaults(orders=os.environ.get("BILLPLANE_ORDERS", ""))
    parser.add_argument("--out", default="billplane-report",
                        help="report folder (default: billplane-report)")
    parser.add_argument("--fail-on-approvals", action="store_true",
                        help="exit 1 when approvals are required")
    parser.add_argument("--no-merge-base", action="store_true",
                        help="compare with BASE itself, not with the merge base of BASE and "
                             "HEAD")


def run(args: argparse.Namespace) -> int:
    """Write the reports, print the Markdown, exit 0/1 (see ci.check)."""
    code, data = run_ci(CiOptions(
        repo=args.repo, base=args.base, head=args.head, policies_dir=args.policies_dir,
        orders=args.orders, jobs=max(1, args.jobs), prune=not args.no_prune,
        backend=args.backend, port=args.engine_port, dask=args.dask,
        fail_on_approvals=args.fail_on_approvals, merge_base=not args.no_merge_base,
        replay_options={"chunk": args.chunk, "top_n": args.top,
                        # otherwise on exactly when a threshold needs whole-history totals
                        **({"base_totals": True} if args.base_totals else {})}))
    paths = write(args.out, data)
    sys.stdout.write(render_md(data))
    print(f"reports: {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return code
