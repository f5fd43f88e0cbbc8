"""History sources: where replayed orders come from, streamed one record at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from engine.errors import Diagnostic, fail


@dataclass(frozen=True)
class Record:
    """One item of a history: an order (plain JSON dict) or the problem that replaced it.

    `as_of` is the invoice date to evaluate the order as of, when the source knows it (the
    store: the day the invoice was issued); None evaluates the order at its own date.
    """

    line: int
    order: dict[str, Any] | None = None
    issue: Diagnostic | None = None
    pos: int = 0  # bytes of the source read so far (sources sized in bytes)
    as_of: str | None = None


class OrderSource(Protocol):
    """Anything that streams `Record`s; `name` is shown in reports.

    `total` is the size when the source knows it (for the progress bar), counted in `unit`:
    `"orders"`, or `"B"` for files read as bytes (records then carry `pos`).
    """

    name: str
    total: int | None
    unit: str

    def records(self) -> Iterator[Record]:
        """Yield records in a stable order; never the whole history at once."""


class Piece(Protocol):
    """A run of a source's records that a replay worker reads itself: small and picklable
    (raw lines, a range of generated orders), so that the reading process does little.

    Sources may offer `pieces(size)`; for the others a replay reads the records and hands
    them over as they are (`Records`).
    """

    @property
    def count(self) -> int:
        """How many records the piece holds."""

    @property
    def pos(self) -> int:
        """Bytes of the source read through the end of the piece (0 when not sized so)."""

    def records(self) -> Iterator[Record]:
        """The piece's records, in source order."""


@dataclass(frozen=True)
class Records:
    """Records already read (from a source that cannot be split into pieces)."""

    items: tuple[Record, ...]
    pos: int = 0

    @property
    def count(self) -> int:
        return len(self.items)

    def records(self) -> Iterator[Record]:
        return iter(self.items)


def pieces(source: OrderSource, size: int) -> Iterator[Piece]:
    """The source's records in pieces of about `size` records."""
    split = getattr(source, "pieces", None)
    if split is not None:
        yield from split(size)
        return
    chunk: list[Record] = []
    for rec in source.records():
        chunk.append(rec)
        if len(chunk) >= size:
            yield Records(tuple(chunk), rec.pos)
            chunk = []
    if chunk:
        yield Records(tuple(chunk), chunk[-1].pos)


def open_source(spec: str, **options: Any) -> OrderSource:
    """Open a source from its command-line spelling.

    `orders.jsonl` (or `.ndjson`, `.jsonl.gz`, `-` for stdin) JSON Lines; `retail.csv` an
    Online Retail export; `generate:COUNT[:SEED]` a synthetic history; a database URL
    (`sqlite:///billplane.db?from=2026-01-01&until=2026-02-01`) the service's issued invoices.
    """
    if spec.startswith("generate:"):
        from sandbox.sources.generator import GeneratorSource

        parts = spec.split(":")
        try:
            count = int(parts[1])
            seed = int(parts[2]) if len(parts) > 2 else 1
        except (IndexError, ValueError):
            raise fail("bad_source", f"expected generate:COUNT[:SEED], got {spec!r}") from None
        return GeneratorSource(count, seed, **options)
    if "://" in spec:
        from sandbox.sources.store import StoreSource

        parts_ = urlsplit(spec)
        query = parse_qs(parts_.query)
        url = spec.split("?", 1)[0]
        return StoreSource(url, since=query.get("from", [""])[0],
                           until=query.get("until", [""])[0])
    lower = spec.lower()
    if lower.endswith(".csv"):
        from sandbox.sources.online_retail import OnlineRetailSource

        return OnlineRetailSource(spec, **options)
    if spec == "-" or lower.endswith((".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".json")):
        from sandbox.sources.jsonl import JsonlSource

        return JsonlSource(spec)
    raise fail("bad_source", f"unknown order source {spec!r}: use .jsonl, .csv, "
               "generate:COUNT[:SEED] or a database URL")
