"""Command-line options shared by the subcommands, and where their policies come from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.sources import DirectorySource, GitSource, PolicySource
from engine.errors import BillplaneError, Diagnostic

BACKENDS = ["cel-expr", "cel-python"]

USAGE_CODES = ("not_a_repository", "unknown_revision", "not_found")
"""Errors of reading the policy tree that are about how the command was called: exit 2."""


def add_policy_tree(parser: argparse.ArgumentParser, verb: str) -> None:
    """`PATH` (default policies) and `--ref REV`: the policy tree to `verb`."""
    parser.add_argument("path", nargs="?", default="policies",
                        help="policy directory (default: policies); with --ref, a path inside "
                             "the repository")
    parser.add_argument("--ref", help=f"{verb} this git revision (branch, tag or SHA) without "
                                      "checking it out")


def add_backend(parser: argparse.ArgumentParser) -> None:
    """`--backend`: which CEL runtime evaluates the policies."""
    parser.add_argument("--backend", choices=BACKENDS, default="cel-expr",
                        help="CEL backend (default: cel-expr, the C++ runtime)")


def add_format(parser: argparse.ArgumentParser) -> None:
    """`--format text|json`."""
    parser.add_argument("--format", choices=["text", "json"], default="text",
                        help="output format (default: text)")


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


def tree_problem(command: str, path: str, ref: str | None) -> bool:
    """Print a usage error and return True when PATH cannot be a policy directory."""
    target = Path(path)
    if ref is not None:
        start = target.resolve()
        try:
            _repo_root(start if start.exists() else start.parent)
        except BillplaneError:
            print(f"billplane {command}: {path}: not inside a git repository (--ref reads "
                  "a revision of one)", file=sys.stderr)
            return True
        return False
    if target.is_dir():
        return False
    why = "is a file, not a policy directory" if target.exists() else "no such directory"
    print(f"billplane {command}: {path}: {why}", file=sys.stderr)
    return True


def usage_error(command: str, exc: BillplaneError) -> bool:
    """Print and return True when `exc` is about the policy tree the command was told to read
    (a revision or directory that does not exist): a usage error, like a missing directory."""
    if not exc.diagnostics or any(d.code not in USAGE_CODES for d in exc.diagnostics):
        return False
    for diag in exc.diagnostics:
        shown = diag.location.file and diag.code != "not_found"  # not_found names it already
        where = f" ({diag.location.file})" if shown else ""
        print(f"billplane {command}: {diag.message}{where}", file=sys.stderr)
    return True


def no_policy_files(command: str, path: str, files: dict[str, bytes],
                    skipped: list[Diagnostic] | None = None) -> bool:
    """Print a usage error and return True when the tree holds no policy file at all: a
    directory named by mistake (`examples`) must not pass as an empty, valid bundle."""
    if files:
        return False
    for diag in skipped or []:
        print(diag, file=sys.stderr)
    print(f"billplane {command}: {path}: no policy files (*.yaml, *.yml) in it", file=sys.stderr)
    return True
