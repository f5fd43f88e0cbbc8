"""`billplane codeowners`: write a CODEOWNERS file from the Ownership policy."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from api.cli.options import source_for
from api.sources import load_from
from ci.ownership import codeowners

HELP = "generate CODEOWNERS from the Ownership policy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane codeowners`."""
    parser.add_argument("path", nargs="?", default="policies", help="policy directory")
    parser.add_argument("--ref", help="read the policies at this git revision")
    parser.add_argument("--out", default="-", help="output file (default: stdout), "
                                                   "e.g. .github/CODEOWNERS")
    parser.add_argument("--prefix", help="policy folder as seen from the repository root "
                                         "(default: PATH relative to its git repository)")


def repo_prefix(path: str) -> str:
    """PATH as seen from the root of the git repository holding it (`policies`, or '' for the
    root itself); outside a repository, PATH relative to the current folder, normalised."""
    target = Path(path).resolve()
    relative = Path(os.path.normpath(path)).as_posix()
    for candidate in (target, *target.parents):
        if (candidate / ".git").exists():
            relative = target.relative_to(candidate).as_posix()
            break
    return "" if relative == "." else relative


def run(args: argparse.Namespace) -> int:
    """Exit 0 after writing; 1 when the policies do not load."""
    bundle = load_from(source_for(args.path, args.ref))
    text = codeowners(bundle, args.prefix if args.prefix is not None else repo_prefix(args.path))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    return 0
