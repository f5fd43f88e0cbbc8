"""`billplane eval`: evaluate one order JSON file into an invoice (a dry run, nothing issued)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path

from api.cli.display import relocated, relocator
from api.cli.options import add_backend, no_policy_files, source_for, usage_error
from engine.errors import BillplaneError, Diagnostic
from engine.loader import load_bundle
from engine.order import loads_order

HELP = "evaluate an order (JSON) into an invoice, optionally explained rule by rule"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane eval`."""
    parser.add_argument("order", help="order JSON file, or - to read standard input")
    parser.add_argument("--policies", default="policies",
                        help="policy directory (default: policies); with --ref, a path inside "
                             "the repository")
    parser.add_argument("--ref", help="use the policies at this git revision")
    parser.add_argument("--as-of", dest="as_of", help="evaluation date YYYY-MM-DD "
                                                     "(default: the order date)")
    parser.add_argument("--explain", action="store_true",
                        help="print every amount with the rule (file:line) that produced it")
    add_backend(parser)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with the invoice, 1 on invalid orders or policies, 2 on usage errors."""
    if args.as_of is not None and not _is_date(args.as_of):
        print(f"billplane eval: --as-of {args.as_of!r} is not a date (YYYY-MM-DD)",
              file=sys.stderr)
        return 2
    if args.ref is None and not Path(args.policies).is_dir():
        print(f"billplane eval: {args.policies}: no such policy directory", file=sys.stderr)
        return 2
    name = "<stdin>" if args.order == "-" else args.order
    try:
        text = sys.stdin.read() if args.order == "-" else Path(args.order).read_text("utf-8")
    except FileNotFoundError:
        print(f"billplane eval: {name}: no such file", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as exc:
        print(f"billplane eval: {name}: cannot read: {exc}", file=sys.stderr)
        return 2
    root, files = "", {}
    try:
        order = loads_order(text)  # syntax errors and repeated keys, located
        source = source_for(args.policies, args.ref)
        root = getattr(source, "shown_root", "")
        files = source.files()
        if no_policy_files("eval", args.policies, files):
            return 2
        bundle = load_bundle(files, revision=source.revision, backend=args.backend)
        from engine.evaluate import evaluate, explain

        invoice = evaluate(bundle, order, as_of=args.as_of, backend=args.backend)
    except BillplaneError as exc:
        if usage_error("eval", exc):
            return 2
        for diag in relocated(exc.diagnostics, root, set(files)):
            print(_order_error(name, diag) if _about_order(diag) else str(diag),
                  file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback: report and fail
        print(f"{name}: internal_error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.explain:
        text = relocator(root, set(files))(explain(invoice))  # places the user can open
    else:
        # pretty-printed from the canonical bytes, so that it is exactly the same data
        data = json.loads(invoice.canonical_json())
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `billplane eval ... | head` is not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - nothing more is written
        return 0
    if invoice.blocked:
        codes = ", ".join(v.code for v in invoice.violations if v.severity == "error")
        print(f"billplane eval: this invoice could not be issued ({codes})", file=sys.stderr)
    return 0


_INPUT_CODES = ("invalid_json", "duplicate_key", "invalid_order")


def _about_order(diag: Diagnostic) -> bool:
    return diag.code in _INPUT_CODES or diag.location.file.startswith("order")


_JSON_POSITION = {"invalid_json": re.compile(r" at line (\d+), column (\d+)$"),
                  "duplicate_key": re.compile(r" \(line (\d+), column (\d+)\)$")}
"""Where the engine's messages of order text errors say the line and column."""


def _order_error(name: str, diag: Diagnostic) -> str:
    """An order file's error: one of its JSON text (a syntax error, a repeated key) at
    `file:line:col` as an editor opens it, the repeated key's field after the message; others
    at their field."""
    pattern = _JSON_POSITION.get(diag.code)
    found = pattern.search(diag.message) if pattern else None
    if found is None:
        return f"{name}: {diag}"
    line, column = found.groups()
    field = f" ({diag.location.file})" if diag.location.file else ""
    return f"{name}:{line}:{column}: {diag.code}: {diag.message[:found.start()]}{field}"


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10
