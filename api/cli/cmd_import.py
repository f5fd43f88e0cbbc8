"""`billplane import`: turn an order export (Online Retail CSV) into JSON Lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from sandbox.sources import open_source
from sandbox.sources.jsonl import line_of, write_jsonl_to
from sandbox.sources.online_retail import RETAIL_SKU

HELP = "import an order export (Online Retail CSV) as JSON Lines orders"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane import`."""
    parser.add_argument("source", help="an Online Retail .csv (comma or semicolon)")
    parser.add_argument("--out", default="-", help="output .jsonl[.gz] (default: stdout)")
    parser.add_argument("--seller", default="northwind-uk", help="seller entity")
    parser.add_argument("--sku", default=RETAIL_SKU,
                        help="line sku for every row ('' keeps the StockCode)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any row is bad")


def run(args: argparse.Namespace) -> int:
    """Write orders; report every bad row (file:line: code: message) on stderr."""
    source = open_source(args.source, seller=args.seller, sku=args.sku)
    bad = 0

    def orders() -> Iterator[dict[str, Any]]:
        nonlocal bad
        for rec in source.records():
            if rec.issue is not None:
                bad += 1
                print(str(rec.issue), file=sys.stderr)
            elif rec.order is not None:
                yield line_of(rec)

    count = write_jsonl_to(orders(), args.out)
    print(f"{count} orders, {bad} bad rows", file=sys.stderr)
    return 1 if bad and args.strict else 0
