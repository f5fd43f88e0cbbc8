"""JSON Lines order files: one order object a line, streamed, bad lines reported by number."""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from engine.errors import Diagnostic, Location, fail
from engine.jsontext import RepeatedKey, line_column, locate_repeated_key, unique_keys
from engine.order import json_path
from sandbox.sources import Record


class JsonlSource:
    """Orders from a `.jsonl` file (gzip when it ends in `.gz`), or stdin for `-`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = path
        self.total: int | None = None
        self.unit = "orders" if path == "-" else "B"
        if path != "-":
            try:
                self.total = os.path.getsize(path)
            except OSError as exc:
                raise fail("source_unreadable", f"cannot read {path}: {exc.strerror}",
                           Location(path)) from None

    def _open(self) -> tuple[IO[bytes], IO[bytes]]:
        """(lines to read, the file whose position is the progress)."""
        if self.path == "-":
            return sys.stdin.buffer, sys.stdin.buffer
        try:
            raw = open(self.path, "rb")  # noqa: SIM115 - closed by records()
        except OSError as exc:
            raise fail("source_unreadable", f"cannot read {self.path}: {exc.strerror}",
                       Location(self.path)) from None
        if self.path.endswith(".gz"):
            return cast(IO[bytes], gzip.GzipFile(fileobj=raw)), raw
        return raw, raw

    def _lines(self) -> Iterator[tuple[int, bytes, int]]:
        """(line number, bytes, position after it) of each non-blank line."""
        handle, raw = self._open()
        zipped = handle is not raw
        tell: Callable[[], int] = raw.tell
        pos = 0
        try:
            for number, data in enumerate(handle, start=1):
                pos = tell() if zipped else pos + len(data)
                if number == 1:
                    not_utf8(data, self.path)
                if data.strip():
                    yield number, data, pos
        except (OSError, EOFError) as exc:  # e.g. a truncated .gz
            raise fail("source_unreadable", f"cannot read {self.path}: {exc}",
                       Location(self.path)) from None
        finally:
            if handle is not sys.stdin.buffer:
                handle.close()
                raw.close()

    def records(self) -> Iterator[Record]:
        """Each non-blank line: an order, or an issue naming the line and what is wrong."""
        for number, data, pos in self._lines():
            rec = parse_line(data, number, self.path)
            yield Record(rec.line, rec.order, rec.issue, pos, rec.as_of)

    def pieces(self, size: int) -> Iterator[Lines]:
        """Runs of `size` raw lines, parsed by whoever reads the piece."""
        chunk: list[tuple[int, bytes]] = []
        for number, data, pos in self._lines():
            chunk.append((number, data))
            if len(chunk) >= size:
                yield Lines(self.path, tuple(chunk), pos)
                chunk = []
        if chunk:
            yield Lines(self.path, tuple(chunk), pos)


@dataclass(frozen=True)
class Lines:
    """Raw lines of a JSON Lines file (a `Piece`), parsed as `JsonlSource.records` does."""

    path: str
    lines: tuple[tuple[int, bytes], ...]
    pos: int

    @property
    def count(self) -> int:
        return len(self.lines)

    def records(self) -> Iterator[Record]:
        for number, data in self.lines:
            yield parse_line(data, number, self.path)


_WIDE = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


def not_utf8(first: bytes, path: str) -> None:
    """`bad_encoding` for a file whose first bytes are a UTF-16 or UTF-32 byte order mark
    (PowerShell and Excel write such files): every line of it would be a bad record."""
    for mark, name in _WIDE:
        if first.startswith(mark):
            raise fail("bad_encoding", f"{path} is {name} text; order histories must be "
                       f"UTF-8 (convert it, e.g. iconv -f {name} -t UTF-8)", Location(path))


def parse_line(text: str | bytes, number: int, file: str) -> Record:
    """One JSONL line into a record; structural problems only (the engine checks the rest).

    A key given twice in one object is a bad record (`duplicate_key`), as the service refuses
    such an order: JSON parsers disagree on which value wins.
    """
    where = Location(file, number, 1)
    line = ""
    try:
        # UTF-8 only: json.loads would guess UTF-16 or UTF-32 from a line's bytes
        line = text.decode("utf-8-sig") if isinstance(text, bytes) else text
        value: Any = json.loads(line, object_pairs_hook=unique_keys)
    except RepeatedKey as exc:
        found = locate_repeated_key(line)
        at = f" ({json_path(found[0])})" if found else ""
        return Record(number, issue=Diagnostic(
            "duplicate_key", f"key {str(exc)!r} is given twice in one object{at}",
            Location(file, number, line_column(line, found[1])[1] if found else 1)))
    except json.JSONDecodeError as exc:
        return Record(number, issue=Diagnostic(
            "bad_json", f"not valid JSON: {exc.msg}", Location(file, number, exc.colno)))
    except UnicodeDecodeError as exc:
        return Record(number, issue=Diagnostic(
            "bad_json", f"not UTF-8 text (byte {exc.start + 1})", where))
    if not isinstance(value, dict):
        return Record(number, issue=Diagnostic(
            "bad_order", f"expected an order object, got {type(value).__name__}", where))
    as_of = None
    if "order" in value and "id" not in value:
        # an evaluate request's shape: the order and the date it is invoiced as of
        problem = _wrapper_problem(value)
        if problem is not None:
            return Record(number, issue=Diagnostic("bad_order", problem, where))
        value, as_of = value["order"], value.get("as_of")
    if not isinstance(value.get("id"), str) or not value["id"]:
        return Record(number, issue=Diagnostic("bad_order", "order has no string `id`", where))
    return Record(number, order=value, as_of=as_of)


def _wrapper_problem(value: dict[str, Any]) -> str | None:
    """What is wrong with an `{"order": {...}, "as_of": "YYYY-MM-DD"}` line, if anything."""
    extra = sorted(k for k in value if k not in ("order", "as_of"))
    if extra:
        return (f"a line with `order` holds `order` and `as_of` only; it also has "
                f"{len(extra)} other field(s)")
    if not isinstance(value["order"], dict):
        return f"`order` must be an order object, got {type(value['order']).__name__}"
    as_of = value.get("as_of")
    if as_of is None:
        return None
    try:
        if not isinstance(as_of, str) or dt.date.fromisoformat(as_of).isoformat() != as_of:
            raise ValueError
    except ValueError:
        return "`as_of` must be a date (YYYY-MM-DD)"
    return None


def write_jsonl_to(orders: Iterator[dict[str, object]], out: str) -> int:
    """Write orders to `out` (`-` stdout, gzip when it ends in `.gz`, else plain JSON Lines);
    `cannot_write` when the file cannot be written. An order invoiced as of another day than
    its own is written as `{"order": {...}, "as_of": "YYYY-MM-DD"}` (see `line_of`)."""
    if out == "-":
        return write_jsonl(orders, sys.stdout)
    try:
        if out.endswith(".gz"):
            with gzip.open(out, "wt", encoding="utf-8") as zipped:
                return write_jsonl(orders, zipped)
        with open(out, "w", encoding="utf-8") as handle:
            return write_jsonl(orders, handle)
    except OSError as exc:
        raise fail("cannot_write", f"cannot write {out}: {exc.strerror or exc}",
                   Location(out)) from None


def write_jsonl(orders: Iterator[dict[str, object]], handle: IO[str]) -> int:
    """Write orders as compact JSON Lines; returns how many were written."""
    count = 0
    for order in orders:
        handle.write(json.dumps(order, separators=(",", ":"), sort_keys=True))
        handle.write("\n")
        count += 1
    return count


def line_of(record: Record) -> dict[str, Any]:
    """What a JSON Lines history holds for a record's order: the order itself, or, when the
    source knows the day it is invoiced as of, `{"order": ..., "as_of": ...}` (the shape of
    an evaluate request), which `parse_line` reads back into the same record."""
    assert record.order is not None
    if record.as_of is None:
        return record.order
    return {"order": record.order, "as_of": record.as_of}
