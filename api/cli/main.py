"""`billplane` entry point: dispatches to one module per subcommand.

Each subcommand module in `api.cli` defines `HELP` (one line), `add_arguments(parser)` and
`run(args) -> int`. Exit codes: 0 success, 1 findings (invalid policies, failing tests,
thresholds), 2 usage errors (and a database URL whose driver extra is not installed).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from api.settings import MissingDriver
from engine.errors import BillplaneError

COMMANDS = ["check", "schema", "test", "eval", "replay", "ci", "serve", "import", "generate",
            "codeowners", "keys"]


def _available() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for name in COMMANDS:
        try:
            found[name] = importlib.import_module(f"api.cli.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"api.cli.cmd_{name}":
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="billplane", description="Billing-policy engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available().items():
        p = sub.add_parser(name, help=getattr(module, "HELP", ""))
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args))
    except BillplaneError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except MissingDriver as exc:  # an optional extra not installed: how to install it
        print(f"billplane {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of ours.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
