"""The sandbox's view of the engine: load a revision, evaluate an order into a document.

Workers receive a `RevisionSpec` (plain data) and load the bundle themselves, once per
process, so that bundles (which hold compiled CEL programs) never cross process boundaries.
The port is named by `module:attribute` so that tests and other deployments can swap it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import BillplaneError, fail
from sandbox.facts import comparable

DEFAULT_PORT = "sandbox.engine_port:RealEngine"


@dataclass(frozen=True)
class RevisionSpec:
    """Where one side of a replay comes from: a git revision of a policy folder."""

    repo: str
    ref: str
    subdir: str = "policies"
    backend: str = "cel-expr"


class EnginePort(Protocol):
    """Load bundles and evaluate orders; errors are `BillplaneError`s."""

    def load(self, spec: RevisionSpec) -> Any:
        """The bundle of a revision (must expose `.docs`, `.revision`, `.digest`)."""

    def parse(self, order: dict[str, Any]) -> Any:
        """The order as `evaluate` takes it, validated once for both revisions."""

    def evaluate(self, bundle: Any, order: Any, as_of: str | None = None,
                 trace: bool = True) -> dict[str, Any]:
        """The invoice document (docs/invoice.md) of a parsed order as of the invoice date
        `as_of` (default: the order's own date); without `trace` its `trace` may be empty
        (every other field is the same)."""


class RealEngine:
    """The product's engine: `api.sources.GitSource` + `engine.evaluate.evaluate`."""

    def load(self, spec: RevisionSpec) -> Any:
        from api.sources import GitSource, load_from

        try:
            import engine.evaluate  # noqa: F401 - fail before any work, not per order
        except ImportError as exc:
            raise fail("engine_unavailable", f"the evaluator is not available: {exc}") from None
        from engine.context import prepare

        bundle = load_from(GitSource(spec.repo, spec.ref, spec.subdir), backend=spec.backend)
        prepare(bundle)  # once per worker process, not in the first chunk's time
        return bundle

    def parse(self, order: dict[str, Any]) -> Any:
        from engine.order import parse_order

        return parse_order(order)

    def evaluate(self, bundle: Any, order: Any, as_of: str | None = None,
                 trace: bool = True) -> dict[str, Any]:
        from engine.evaluate import evaluate

        return dict(evaluate(bundle, order, as_of=as_of, trace=trace).document)


def get_port(name: str = DEFAULT_PORT) -> EnginePort:
    """Instantiate the port called `module:attribute`."""
    module, _, attr = name.partition(":")
    try:
        port: EnginePort = getattr(importlib.import_module(module), attr)()
    except (ImportError, AttributeError) as exc:
        raise fail("engine_unavailable", f"cannot use engine {name!r}: {exc}") from None
    return port


Outcome = dict[str, Any]
"""`{"doc": comparable document, "trace": [...]}` or `{"error", "message", "rule"}`."""


def _failed(exc: Exception) -> Outcome:
    if isinstance(exc, BillplaneError):
        first = exc.diagnostics[0]
        return {"error": first.code, "message": str(first.message), "rule": first.rule}
    return {"error": "engine_error", "message": f"{type(exc).__name__}: {exc}", "rule": ""}


def outcome(port: EnginePort, bundle: Any, order: Any, as_of: str | None = None,
            trace: bool = True) -> Outcome:
    """Evaluate (as of the invoice date `as_of` when given) and keep what a replay compares;
    an evaluation error is an outcome too."""
    try:
        doc = port.evaluate(bundle, order, as_of, trace)
    except Exception as exc:  # noqa: BLE001 - one odd order must not end a long replay
        return _failed(exc)
    return {"doc": comparable(doc), "trace": doc.get("trace") or []}


class Outcomes:
    """Both outcomes of each order, each order parsed once for both revisions.

    Orders are first evaluated without a trace; an order whose invoices differ is evaluated
    again with it, since only a difference needs the rules that caused it. Once most orders
    differ (a change that touches everything), later ones are traced at once.
    """

    WARM_UP = 20

    def __init__(self, port: EnginePort, base: Any, head: Any) -> None:
        self.port, self.base, self.head = port, base, head
        self.seen = self.differ = 0

    def parsed(self, order: dict[str, Any]) -> tuple[Any, Outcome | None]:
        """The order as the engine takes it, or the outcome of an order that does not parse."""
        try:
            return self.port.parse(order), None
        except Exception as exc:  # noqa: BLE001 - as `outcome`
            return None, _failed(exc)

    def base_only(self, order: dict[str, Any], as_of: str | None = None) -> Outcome:
        """The base outcome of an order that cannot change (no trace is needed)."""
        parsed, failed = self.parsed(order)
        return failed or outcome(self.port, self.base, parsed, as_of, trace=False)

    def both(self, order: dict[str, Any], as_of: str | None = None
             ) -> tuple[Outcome, Outcome]:
        """The base and head outcomes as of `as_of`, traced where they differ."""
        parsed, failed = self.parsed(order)
        if failed is not None:
            return failed, failed
        self.seen += 1
        traced = self.seen > self.WARM_UP and 2 * self.differ > self.seen
        b = outcome(self.port, self.base, parsed, as_of, traced)
        h = outcome(self.port, self.head, parsed, as_of, traced)
        if "doc" in b and "doc" in h:
            if b["doc"] == h["doc"]:
                # one document for both: what compares them later (the diff, the totals)
                # sees at once that nothing changed, without walking them again
                h["doc"] = b["doc"]
                return b, h
            self.differ += 1
            if not traced:
                b = outcome(self.port, self.base, parsed, as_of)
                h = outcome(self.port, self.head, parsed, as_of)
        return b, h
