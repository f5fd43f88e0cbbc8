"""What reading a request body costs: `json.loads` (the framework's reading) against
`api.inputs.loads_body` (the same parser, refusing repeated keys), in one process.

The body is evaluate's benchmark request (`bench_api.ten_line_order`, a 10-line order).
Prints microseconds per body for each, their ratio, and the difference against one
evaluation of the same order under the example policies (what the body is read for).

    python benchmarks/bench_body.py [--number 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_api import ten_line_order  # noqa: E402

from api.inputs import loads_body  # noqa: E402


def best(fn: Callable[[], object], number: int, repeat: int) -> float:
    """The fastest of `repeat` runs, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    order = ten_line_order(1)
    body = json.dumps({"order": order}).encode()
    assert loads_body(body) == json.loads(body)
    plain = best(lambda: json.loads(body), args.number, args.repeat)
    checked = best(lambda: loads_body(body), args.number, args.repeat)
    print(f"body of {len(body)} bytes (10-line order)")
    print(f"json.loads            {plain:8.2f} us")
    print(f"loads_body            {checked:8.2f} us")
    print(f"ratio                 {checked / plain:8.2f}")

    from api.port import RealEngine

    engine = RealEngine()
    bundle = engine.load_directory(ROOT / "policies")
    evaluation = best(lambda: engine.evaluate(bundle, order, None).canonical_json(),
                      max(args.number // 100, 20), args.repeat)
    print(f"one evaluation        {evaluation:8.2f} us")
    print(f"difference per body   {checked - plain:8.2f} us"
          f" ({(checked - plain) / evaluation:.2%} of an evaluation)")


if __name__ == "__main__":
    main()
