"""Replay a history under two policy revisions: streamed, chunked, pruned, in parallel.

The parent splits the source into pieces (raw JSON Lines, ranges of generated orders, or
records it read itself from sources that cannot be split) and hands them to workers. A worker
loads both revisions once (from their `RevisionSpec`s, never from pickled bundles), reads its
piece, sets aside bad records and the orders the change cannot affect (see `sandbox.prune`),
evaluates the others under both as of their invoice date (the issue date for orders from the
service's store, a linked credit note's own date, else the order's own date), and returns an
`Aggregate` of its chunk, which counts each change in its invoice date's month. At most
`2 x jobs` chunks are in flight, so memory stays bounded whatever the history size. The same
chunk function runs on a local process pool and on Dask distributed.
"""

from __future__ import annotations

import gc
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from engine.errors import Diagnostic, Location
from sandbox.aggregate import Aggregate
from sandbox.engine_port import DEFAULT_PORT, Outcomes, RevisionSpec, get_port
from sandbox.prune import Predicate, impact, shape_problem
from sandbox.sources import OrderSource, Piece, open_source, pieces


@dataclass
class ReplayConfig:
    """Everything a replay needs, as plain data."""

    base: RevisionSpec
    head: RevisionSpec
    source: str
    jobs: int = 1
    prune: bool = True
    chunk: int = 250
    top_n: int = 100
    port: str = DEFAULT_PORT
    dask: str = ""  # "", "local" or a scheduler address
    progress: bool | None = None  # None: when stderr is a terminal
    # evaluate pruned orders under the base revision too, so that totals and percentages
    # cover the whole history (pruned orders cannot change: one evaluation, no diff)
    base_totals: bool = False
    source_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReplayResult:
    """The merged aggregate plus what was compared and how long it took."""

    aggregate: Aggregate
    predicate: Predicate
    base: dict[str, Any]
    head: dict[str, Any]
    source: str
    seconds: float
    jobs: int
    engine: str = "processes"
    pruned: bool = True
    base_totals: bool = False

    @property
    def totals_cover(self) -> str:
        """`all` when the totals include every order, `replayed` when pruned orders are out."""
        skipped = self.aggregate.counts["skipped"]
        return "all" if not skipped or self.base_totals else "replayed"


@dataclass(frozen=True)
class Work:
    """What every chunk of a replay needs besides its records (plain data)."""

    port: str
    base: RevisionSpec
    head: RevisionSpec
    predicate: Predicate
    changed: frozenset[str]  # changed documents that can cause a money change
    top_n: int
    base_totals: bool
    source: str  # the source's name, for the locations of bad records


# a chunk: its piece of the history (records the worker reads itself)
Task = tuple[Work, Piece]
_LOADED: dict[tuple[str, RevisionSpec, RevisionSpec], tuple[Any, Any, Any]] = {}
_WORKER = [False]  # set in the processes of a replay's pool


def _start_worker() -> None:
    _WORKER[0] = True


def _bundles(port_name: str, base: RevisionSpec, head: RevisionSpec) -> tuple[Any, Any, Any]:
    """Port and both bundles, loaded once per process (and per thread-sharing Dask worker)."""
    key = (port_name, base, head)
    if key not in _LOADED:
        port = get_port(port_name)
        _LOADED[key] = (port, port.load(base), port.load(head))
        if _WORKER[0]:
            # what a worker holds for good (modules, both bundles) is never garbage: leave it
            # out of every later collection, which otherwise walks it again and again
            gc.freeze()
    return _LOADED[key]


def process_chunk(task: Task) -> Aggregate:
    """Read a piece of the history, check and prune its orders, evaluate each under both
    revisions and aggregate the differences.

    A pruned order is evaluated under the base revision only, and only with `base_totals`
    (for totals over the whole history): it cannot change, so its head outcome is its base
    outcome.
    """
    work, piece = task
    port, base, head = _bundles(work.port, work.base, work.head)
    agg = Aggregate(top_n=work.top_n)
    outcomes = Outcomes(port, base, head)
    counts = agg.counts
    for rec in piece.records():
        counts["read"] += 1
        order = rec.order
        if rec.issue is not None or order is None:
            if rec.issue is not None:
                agg.add_issue({**rec.issue.to_dict(), "record": rec.line})
            continue
        problem = shape_problem(order)
        if problem is not None:
            agg.add_issue({**Diagnostic("bad_order", problem, Location(
                work.source, rec.line, 1)).to_dict(), "record": rec.line})
            continue
        if not work.predicate.selects(order):
            agg.add_skipped(order)
            if work.base_totals:
                agg.add_base_only(order, outcomes.base_only(order, rec.as_of))
            continue
        agg.add_order(order, *outcomes.both(order, rec.as_of), work.changed, rec.line,
                      rec.as_of)
    return agg


def replay(cfg: ReplayConfig, client: Any = None) -> ReplayResult:
    """Run a replay; `client` is an optional dask.distributed Client to run chunks on."""
    started = time.perf_counter()
    port = get_port(cfg.port)
    base, head = port.load(cfg.base), port.load(cfg.head)
    _LOADED[(cfg.port, cfg.base, cfg.head)] = (port, base, head)
    pred = impact(base, head)
    if not cfg.prune:
        pred = Predicate(everything=True, reasons=["all orders: pruning turned off"],
                         changed=pred.changed, inert=pred.inert)
    # a changed PolicyTest or Ownership document is never the cause of a money change
    changed = frozenset(pred.changed) - frozenset(pred.inert)
    total = Aggregate(top_n=cfg.top_n)
    source = open_source(cfg.source, **cfg.source_options)
    work = Work(cfg.port, cfg.base, cfg.head, pred, changed, cfg.top_n, cfg.base_totals,
                source.name)
    tasks = _tasks(cfg, source, work)
    engine = "inline"
    if client is not None or cfg.dask:
        engine = "dask"
        _run_dask(cfg, tasks, total, client)
    elif cfg.jobs > 1:
        engine = "processes"
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(cfg.jobs, initializer=_start_worker) as pool:
            _drain(tasks, lambda t: pool.apply_async(process_chunk, (t,)),
                   lambda h: h.get(), cfg.jobs * 2, total)
    else:
        for task in tasks:
            total.merge(process_chunk(task))
    return ReplayResult(total, pred, base_manifest(base), base_manifest(head), source.name,
                        time.perf_counter() - started, cfg.jobs, engine, cfg.prune,
                        cfg.base_totals)


def base_manifest(bundle: Any) -> dict[str, Any]:
    """Revision facts for reports (works for any bundle with revision and digest)."""
    if hasattr(bundle, "manifest"):
        return dict(bundle.manifest())
    return {"revision": getattr(bundle, "revision", ""), "digest": getattr(bundle, "digest", "")}


def _tasks(cfg: ReplayConfig, source: OrderSource, work: Work) -> Iterator[Task]:
    """Chunks of the history, as pieces the workers read themselves where the source can be
    split (raw lines, ranges of generated orders): reading here stays cheap."""
    bar = _progress(cfg, source)
    by_bytes = source.unit == "B"
    done = 0
    try:
        for piece in pieces(source, cfg.chunk):
            if by_bytes:
                bar.update(piece.pos - done)
                done = piece.pos
            else:
                bar.update(piece.count)
            yield (work, piece)
    finally:
        bar.close()


def _progress(cfg: ReplayConfig, source: OrderSource) -> Any:
    from tqdm import tqdm

    show = sys.stderr.isatty() if cfg.progress is None else cfg.progress
    if source.unit == "B":
        return tqdm(total=source.total, unit="B", unit_scale=True, unit_divisor=1024,
                    file=sys.stderr, disable=not show, mininterval=0.5)
    return tqdm(total=source.total, unit=" orders", file=sys.stderr, disable=not show,
                mininterval=0.5)


def _drain(tasks: Iterator[Task], submit: Callable[[Task], Any], result: Callable[[Any], Any],
           window: int, total: Aggregate) -> None:
    """Submit tasks keeping at most `window` in flight; merge results in submission order."""
    pending: deque[Any] = deque()
    for task in tasks:
        pending.append(submit(task))
        while len(pending) >= window:
            total.merge(result(pending.popleft()))
    while pending:
        total.merge(result(pending.popleft()))


def _run_dask(cfg: ReplayConfig, tasks: Iterator[Task], total: Aggregate, client: Any) -> None:
    from dask.distributed import Client, LocalCluster

    own = None
    if client is None:
        if cfg.dask == "local":
            own = LocalCluster(n_workers=max(1, cfg.jobs), threads_per_worker=1,
                               dashboard_address=None)
            client = Client(own)
        else:
            client = Client(cfg.dask)
    try:
        _drain(tasks, lambda t: client.submit(process_chunk, t, pure=False),
               lambda f: f.result(), max(2, cfg.jobs * 2), total)
    finally:
        if own is not None:
            client.close()
            own.close()
