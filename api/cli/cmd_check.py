"""`billplane check`: validate a policy tree (a directory, or a git revision of it)."""

from __future__ import annotations

import argparse
import json
import sys

from api.cli.options import (
    add_backend,
    add_format,
    add_policy_tree,
    source_for,
    tree_problem,
)
from api.sources import load_from
from engine.errors import BillplaneError, Diagnostic

HELP = "check policies: schemas, references, dates and CEL types"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane check`."""
    add_policy_tree(parser, "check")
    add_format(parser)
    add_backend(parser)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the policies are valid, 1 with every finding, 2 on usage errors."""
    if tree_problem("check", args.path, args.ref):
        return 2
    try:
        source = source_for(args.path, args.ref)
        bundle = load_from(source, backend=args.backend)
    except BillplaneError as exc:
        return _report(exc.diagnostics, args.format)
    except Exception as exc:  # never a traceback: report and fail
        return _report([Diagnostic("internal_error", f"{type(exc).__name__}: {exc}")],
                       args.format)
    if args.format == "json":
        print(json.dumps({"valid": True, **bundle.manifest()}, indent=2))
    else:
        revision = bundle.revision or f"working tree (digest {bundle.digest[:12]})"
        print(f"ok: {len(bundle.files)} files, {len(bundle.docs)} rules, revision {revision}")
    return 0


def _report(diagnostics: list[Diagnostic], fmt: str) -> int:
    if fmt == "json":
        print(json.dumps([d.to_dict() for d in diagnostics], indent=2))
    else:
        for diag in diagnostics:
            print(diag)
        print(f"{len(diagnostics)} error(s)", file=sys.stderr)
    return 1
