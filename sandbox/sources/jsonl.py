"""JSON Lines order files: one order object a line, streamed, bad lines reported by number."""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from typing import IO

from engine.errors import Diagnostic, Location, fail
from sandbox.sources import Record


class JsonlSource:
    """Orders from a `.jsonl` file (gzip when it ends in `.gz`), or stdin for `-`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = path

    def _open(self) -> IO[str]:
        if self.path == "-":
            return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
        try:
            if self.path.endswith(".gz"):
                return gzip.open(self.path, "rt", encoding="utf-8")
            return open(self.path, encoding="utf-8")  # noqa: SIM115 - closed by records()
        except OSError as exc:
            raise fail("source_unreadable", f"cannot read {self.path}: {exc.strerror}",
                       Location(self.path)) from None

    def records(self) -> Iterator[Record]:
        """Each non-blank line: an order, or an issue naming the line and what is wrong."""
        with self._open() as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                yield parse_line(text, number, self.path)


def parse_line(text: str, number: int, file: str) -> Record:
    """One JSONL line into a record; structural problems only (the engine checks the rest)."""
    where = Location(file, number, 1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return Record(number, issue=Diagnostic(
            "bad_json", f"not valid JSON: {exc.msg}", Location(file, number, exc.colno)))
    if not isinstance(value, dict):
        return Record(number, issue=Diagnostic(
            "bad_order", f"expected an order object, got {type(value).__name__}", where))
    if not isinstance(value.get("id"), str) or not value["id"]:
        return Record(number, issue=Diagnostic("bad_order", "order has no string `id`", where))
    return Record(number, order=value)


def write_jsonl(orders: Iterator[dict[str, object]], handle: IO[str]) -> int:
    """Write orders as compact JSON Lines; returns how many were written."""
    count = 0
    for order in orders:
        handle.write(json.dumps(order, separators=(",", ":"), sort_keys=True))
        handle.write("\n")
        count += 1
    return count
