"""A replay's outcomes: untraced first, traced where the two invoices differ."""

from __future__ import annotations

from typing import Any

from engine.errors import BillplaneError, fail
from sandbox.engine_port import Outcomes


class CountingPort:
    """Invoices whose total is the order's amount times the bundle's factor."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.parsed = 0

    def load(self, spec: Any) -> Any:  # pragma: no cover - not used here
        raise NotImplementedError

    def parse(self, order: dict[str, Any]) -> Any:
        self.parsed += 1
        if "amount" not in order:
            raise fail("invalid_order", "no amount")
        return order

    def evaluate(self, bundle: Any, order: Any, as_of: str | None = None,
                 trace: bool = True) -> dict[str, Any]:
        self.calls.append((bundle["name"], trace))
        total = order["amount"] * bundle["factor"]
        return {"totals": {"total": str(total)}, "provenance": {"revision": bundle["name"]},
                "trace": [{"path": "totals.total", "rule": bundle["name"]}] if trace else []}


BASE = {"name": "base", "factor": 1}
HEAD = {"name": "head", "factor": 2}


def test_same_invoices_are_never_traced() -> None:
    port = CountingPort()
    b, h = Outcomes(port, BASE, BASE).both({"amount": 5})
    assert b == h and b["trace"] == [] and b["doc"]["totals"]["total"] == "5"
    assert port.calls == [("base", False), ("base", False)] and port.parsed == 1
    # equal documents are one object: the diff and the totals see it without a second walk
    assert b["doc"] is h["doc"]


def test_aggregate_of_one_document_for_both_sides_is_that_of_two_equal_ones() -> None:
    from sandbox.aggregate import Aggregate

    port = CountingPort()
    b, h = Outcomes(port, BASE, BASE).both({"amount": 5})
    shared, apart = Aggregate(top_n=5), Aggregate(top_n=5)
    order = {"id": "O1", "currency": "GBP"}
    shared.add_order(order, b, h)
    apart.add_order(order, b, {**h, "doc": {**h["doc"]}})
    assert shared.sums == apart.sums and shared.counts == apart.counts
    assert shared.sums[("totals", "", "base", "total")] == 5
    assert shared.counts["changed"] == 0


def test_different_invoices_are_evaluated_again_with_their_trace() -> None:
    port = CountingPort()
    b, h = Outcomes(port, BASE, HEAD).both({"amount": 3})
    assert (b["doc"]["totals"]["total"], h["doc"]["totals"]["total"]) == ("3", "6")
    assert b["trace"][0]["rule"] == "base" and h["trace"][0]["rule"] == "head"
    assert port.calls == [("base", False), ("head", False), ("base", True), ("head", True)]


def test_once_most_orders_differ_they_are_traced_at_once() -> None:
    port = CountingPort()
    outcomes = Outcomes(port, BASE, HEAD)
    for n in range(Outcomes.WARM_UP + 5):
        outcomes.both({"amount": n + 1})
    tail = port.calls[-2:]
    assert tail == [("base", True), ("head", True)]  # no untraced first try any more
    assert len(port.calls) == 4 * Outcomes.WARM_UP + 2 * 5


def test_an_order_that_does_not_parse_is_the_same_error_on_both_sides() -> None:
    port = CountingPort()
    b, h = Outcomes(port, BASE, HEAD).both({"id": "X"})
    assert b == h and b["error"] == "invalid_order" and port.calls == []
    assert Outcomes(port, BASE, HEAD).base_only({"id": "X"})["error"] == "invalid_order"


def test_an_engine_error_is_an_outcome() -> None:
    class Failing(CountingPort):
        def evaluate(self, bundle: Any, order: Any, as_of: str | None = None,
                 trace: bool = True) -> dict[str, Any]:
            if bundle["name"] == "head":
                raise BillplaneError(fail("no_price", "no price").diagnostics)
            return super().evaluate(bundle, order, as_of, trace)

    b, h = Outcomes(Failing(), BASE, HEAD).both({"amount": 1})
    assert "doc" in b and h["error"] == "no_price"
