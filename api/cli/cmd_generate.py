"""`billplane generate`: a large synthetic order history, seeded, as JSON Lines."""

from __future__ import annotations

import argparse
import sys

from sandbox.sources.generator import GeneratorSource, load_distributions
from sandbox.sources.jsonl import write_jsonl_to
from sandbox.sources.online_retail import RETAIL_SKU

HELP = "generate a synthetic order history from real retail distributions (JSONL)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of `billplane generate`."""
    parser.add_argument("--count", type=int, default=100_000, help="orders (default: 100000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument("--out", default="-", help="output .jsonl[.gz] (default: stdout)")
    parser.add_argument("--customers", type=int, default=5000, help="distinct customers")
    parser.add_argument("--seller", default="northwind-uk", help="seller entity")
    parser.add_argument("--sku", default=RETAIL_SKU,
                        help="line sku ('' uses the real StockCodes)")
    parser.add_argument("--distributions", help="a distributions JSON (default: shipped)")


def run(args: argparse.Namespace) -> int:
    """Stream the orders; the same seed gives byte-identical output."""
    if args.count < 0 or args.customers < 1:
        print("billplane generate: --count must be >= 0 and --customers >= 1", file=sys.stderr)
        return 2
    gen = GeneratorSource(args.count, args.seed, seller=args.seller, sku=args.sku,
                          customers=args.customers,
                          distributions=load_distributions(args.distributions))
    write_jsonl_to(gen.orders(), args.out)
    return 0
