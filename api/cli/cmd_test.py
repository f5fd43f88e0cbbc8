"""`billplane test`: run the PolicyTest cases of a policy tree and report rule coverage."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from api.cli.display import relocated, relocator
from api.cli.options import (
    add_backend,
    add_format,
    add_policy_tree,
    no_policy_files,
    source_for,
    tree_problem,
    usage_error,
)
from engine.errors import BillplaneError, Diagnostic
from engine.loader import load_bundle

if TYPE_CHECKING:
    from engine.testing import TestReport

HELP = "run the policy tests (PolicyTest cases) and report rule coverage"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane test`."""
    add_policy_tree(parser, "test")
    add_backend(parser)
    add_format(parser)
    parser.add_argument("--coverage-min", dest="coverage_min", default=None, metavar="PCT",
                        help="fail when less than PCT percent of the rules are exercised")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when every case passes and coverage is at least the minimum, 1 otherwise, 2 on
    usage errors."""
    minimum = None
    if args.coverage_min is not None:
        try:
            minimum = Decimal(str(args.coverage_min))
        except InvalidOperation:
            minimum = None
        if minimum is None or not minimum.is_finite() or not 0 <= minimum <= 100:
            print(f"billplane test: --coverage-min {args.coverage_min!r} is not a percentage "
                  "between 0 and 100", file=sys.stderr)
            return 2
    if tree_problem("test", args.path, args.ref):
        return 2
    from engine.testing import render_text, run_policy_tests

    root, files = "", {}
    try:
        source = source_for(args.path, args.ref)
        root = getattr(source, "shown_root", "")
        files = source.files()  # read once: loaded, then used to point failures at lines
        if no_policy_files("test", args.path, files):
            return 2
        bundle = load_bundle(files, revision=source.revision, backend=args.backend)
        report = run_policy_tests(bundle, backend=args.backend, files=files)
    except BillplaneError as exc:
        if usage_error("test", exc):
            return 2
        return _fail(relocated(exc.diagnostics, root, set(files)), args.format)
    except Exception as exc:  # never a traceback: report and fail
        return _fail([Diagnostic("internal_error", f"{type(exc).__name__}: {exc}")],
                     args.format)
    _relocate(report, relocator(root, set(files)))
    coverage_ok = minimum is None or report.coverage.percent >= minimum
    if args.format == "json":
        data = report.to_dict()
        data["coverage"]["minimum"] = None if minimum is None else str(minimum)
        data["coverage"]["ok"] = coverage_ok
        data["ok"] = report.ok and coverage_ok
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(render_text(report, minimum))
        if not report.cases:
            print("no PolicyTest cases found")
        if not coverage_ok:
            print(f"coverage {report.coverage.percent}% is below the minimum {minimum}%")
    return 0 if report.ok and coverage_ok else 1


def _relocate(report: TestReport, move: Callable[[str], str]) -> None:
    """Point the failures' places under the directory the user named (as `check` does)."""
    for case in report.cases:
        case.where = move(case.where)
        case.mismatches = [replace(m, where=move(m.where), detail=move(m.detail))
                           for m in case.mismatches]


def _fail(diagnostics: list[Diagnostic], fmt: str) -> int:
    if fmt == "json":
        print(json.dumps({"ok": False, "errors": [d.to_dict() for d in diagnostics]}, indent=2))
    else:
        for diag in diagnostics:
            print(str(diag), file=sys.stderr)
        print(f"{len(diagnostics)} error(s): the policies could not be loaded", file=sys.stderr)
    return 1
