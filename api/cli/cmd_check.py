"""`billplane check`: validate a policy tree (a directory, or a git revision of it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from api.sources import DirectorySource, GitSource, PolicySource, load_from
from engine.errors import BillplaneError, Diagnostic

HELP = "check policies: schemas, references, dates and CEL types"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane check`."""
    parser.add_argument("path", nargs="?", default="policies",
                        help="policy directory (default: policies); with --ref, a path inside "
                             "the repository")
    parser.add_argument("--ref", help="check this git revision (branch, tag or SHA) without "
                                      "checking it out")
    parser.add_argument("--format", choices=["text", "json"], default="text",
                        help="output format (default: text)")
    parser.add_argument("--backend", choices=["cel-expr", "cel-python"], default="cel-expr",
                        help="CEL backend used to compile expressions (default: cel-expr)")


def source_for(path: str, ref: str | None) -> PolicySource:
    """A DirectorySource for PATH, or a GitSource for PATH's repository at REF."""
    if ref is None:
        return DirectorySource(path)
    target = Path(path).resolve()
    root = _repo_root(target if target.exists() else target.parent)
    subdir = target.relative_to(root).as_posix() if target != root else ""
    return GitSource(root, ref, subdir="" if subdir == "." else subdir)


def _repo_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    raise BillplaneError(Diagnostic("not_a_repository", f"{start} is not inside a git repository"))


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the policies are valid, 1 with every finding, 2 on usage errors."""
    if args.ref is None and not Path(args.path).is_dir():
        print(f"billplane check: {args.path}: no such directory", file=sys.stderr)
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
