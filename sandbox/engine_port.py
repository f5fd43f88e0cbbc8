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

    def evaluate(self, bundle: Any, order: dict[str, Any],
                 as_of: str | None = None) -> dict[str, Any]:
        """The invoice document (docs/invoice.md) of an order as of the invoice date `as_of`
        (default: the order's own date).

        `outcome` passes `as_of` (by keyword) only when the history gives an invoice date, so
        a port written as `evaluate(bundle, order)` still replays histories without one.
        """


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

    def evaluate(self, bundle: Any, order: dict[str, Any],
                 as_of: str | None = None) -> dict[str, Any]:
        from engine.evaluate import evaluate

        return dict(evaluate(bundle, order, as_of=as_of).document)


def get_port(name: str = DEFAULT_PORT) -> EnginePort:
    """Instantiate the port called `module:attribute`."""
    module, _, attr = name.partition(":")
    try:
        port: EnginePort = getattr(importlib.import_module(module), attr)()
    except (ImportError, AttributeError) as exc:
        raise fail("engine_unavailable", f"cannot use engine {name!r}: {exc}") from None
    return port


def outcome(port: EnginePort, bundle: Any, order: dict[str, Any],
            as_of: str | None = None) -> dict[str, Any]:
    """Evaluate (as of the invoice date `as_of` when given) and keep what a replay compares;
    an evaluation error is an outcome too."""
    try:
        doc = (port.evaluate(bundle, order) if as_of is None
               else port.evaluate(bundle, order, as_of=as_of))
    except BillplaneError as exc:
        first = exc.diagnostics[0]
        return {"error": first.code, "message": str(first.message), "rule": first.rule}
    except Exception as exc:  # noqa: BLE001 - one odd order must not end a long replay
        return {"error": "engine_error", "message": f"{type(exc).__name__}: {exc}", "rule": ""}
    return {"doc": comparable(doc), "trace": doc.get("trace") or []}
