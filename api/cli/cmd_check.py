"""`billplane check`: validate a policy tree (a directory, or a git revision of it)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from api.cli.display import relocated
from api.cli.options import (
    add_backend,
    add_format,
    add_policy_tree,
    no_policy_files,
    source_for,
    tree_problem,
    usage_error,
)
from engine.bundle import Bundle
from engine.errors import BillplaneError, Diagnostic
from engine.loader import digest_of, load_bundle

HELP = "check policies: schemas, references, dates and CEL types"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane check`."""
    add_policy_tree(parser, "check")
    add_format(parser)
    add_backend(parser)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the policies are valid, 1 with every finding, 2 on usage errors.

    Paths are printed as the user can open them: under the directory given (relative to the
    working directory when inside it), or relative to the repository root with --ref. What
    was not read (symbolic links, submodules) is listed as warnings.
    """
    if tree_problem("check", args.path, args.ref):
        return 2
    files: dict[str, bytes] = {}
    root, skipped, revision = "", [], ""
    bundle: Bundle | None = None
    try:
        source = source_for(args.path, args.ref)
        root = getattr(source, "shown_root", "")
        revision = source.revision
        files = source.files()
        skipped = relocated(getattr(source, "skipped", []), root, _all_paths(source, files))
        if no_policy_files("check", args.path, files, skipped):
            return 2
        bundle = load_bundle(files, revision=revision, backend=args.backend)
    except BillplaneError as exc:
        if usage_error("check", exc):
            return 2
        errors = relocated(exc.diagnostics, root, set(files))
    except Exception as exc:  # never a traceback: report and fail
        errors = [Diagnostic("internal_error", f"{type(exc).__name__}: {exc}")]
    else:
        errors = []
    if args.format == "json":
        print(json.dumps(_summary(bundle, files, revision, args.backend, errors, skipped),
                         indent=2))
    elif errors or bundle is None:
        for diag in [*skipped, *errors]:
            print(diag)
        warned = f", {len(skipped)} warning(s)" if skipped else ""
        print(f"{len(errors)} error(s){warned}", file=sys.stderr)
    else:
        for diag in skipped:
            print(diag)
        revision = bundle.revision or f"working tree (digest {bundle.digest[:12]})"
        print(f"ok: {len(bundle.files)} files, {len(bundle.docs)} rules, revision {revision}")
    return 1 if errors else 0


def _summary(bundle: Bundle | None, files: dict[str, bytes], revision: str, backend: str,
             errors: list[Diagnostic], skipped: list[Diagnostic]) -> dict[str, Any]:
    """One object whether the bundle is valid or not (docs/policy-format.md, "check --format
    json"): what only a loaded bundle knows (its rules and kinds) is null when it does not
    load."""
    if bundle is not None:
        head = bundle.manifest()
    else:
        head = {"revision": revision, "digest": digest_of(files), "backend": backend,
                "files": len(files), "rules": None, "kinds": None}
    return {"ok": not errors, **head, "errors": [d.to_dict() for d in errors],
            "warnings": [d.to_dict() for d in skipped]}


def _all_paths(source: object, files: dict[str, bytes]) -> set[str]:
    return set(files) | {d.location.file for d in getattr(source, "skipped", [])}
