"""The CEL scope of one order: its views (built once) and the evaluation of compiled programs.

Views are plain dicts with exactly the fields of `engine.cel.types` (defaults for absent
values), so what the checker accepted is always present at run time. The backend converts
them once per order; pricing results (`amount_minor`, `subtotal_minor`) are filled in with
`set_line_amounts`, after which the views are converted once more.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterable, Mapping
from decimal import ROUND_FLOOR
from typing import Any

from engine.bundle import Bundle, PolicyDoc
from engine.cel.backend import CelBackend, CelEvalError, CelSession, get_backend
from engine.cel.fast import Compiled, Fallback, compile_fast
from engine.cel.types import MESSAGES, as_map, as_string, shape
from engine.errors import BillplaneError, Diagnostic
from engine.model import Order, OrderLine, PricedLine

_BATCH_KEY = "cel.batch"
_FAST_KEY = "cel.fast"
_PREPARING = threading.Lock()
FAST_BACKENDS = frozenset({"cel-expr"})
"""Backends whose simple programs also run as Python (engine.cel.fast); cel-python never
does, so that the fallback backend evaluates every expression itself."""
_FIELDS_KEY = "cel.named_fields"
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATHS: dict[str, str] = {}  # "when" -> "spec.when", memoised


def customer_view(customer: Mapping[str, Any]) -> dict[str, Any]:
    """The `customer` variable: exactly the documented fields."""
    return shape("Customer", customer)


def line_view(line: OrderLine, product: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The `line` variable for an order line (amount_minor 0 until pricing has run)."""
    product = product or {}
    period = line.period
    # written out field by field (this is built for every line of every order); the keys are
    # exactly those of MESSAGES["Line"], in order, as `shape` would give them
    return {
        "index": int(line.index),
        "sku": as_string(line.sku),
        "product_type": as_string(product.get("type", "")),
        "quantity": format(line.quantity, "f"),
        "units": int(line.quantity.to_integral_value(rounding=ROUND_FLOOR)),
        "unit": as_string(product.get("unit", "")),
        "description": as_string(line.description or product.get("name", "")),
        "amount_minor": 0,
        "period_start": period.start.isoformat() if period else "",
        "period_end": period.end.isoformat() if period else "",
        "attributes": as_map(line.attributes),
    }


def order_view(order: Order, products: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The `order` variable, holding the customer and the line views."""
    view = shape("Order", {
        "id": order.id,
        "date": order.date,
        "currency": order.currency,
        "seller": order.seller,
        "contract": order.contract,
        "coupons": list(order.coupons),
        "customer": order.customer,
        "lines": (),
        "attributes": order.attributes,
    })
    view["lines"] = [line_view(line, products.get(line.sku)) for line in order.lines]
    return view


def _distinct_programs(bundle: Bundle) -> list[Any]:
    seen: dict[int, Any] = {}
    for key in sorted(bundle.programs):
        program = bundle.programs[key]
        seen.setdefault(id(program), program)
    return list(seen.values())


def fast_programs(bundle: Bundle) -> dict[int, Compiled]:
    """id(program) -> its Python form, for the programs engine.cel.fast compiles (per bundle)."""
    found: dict[int, Compiled] | None = bundle.index.get(_FAST_KEY)
    if found is None:
        with _PREPARING:  # concurrent first evaluations of a new bundle compile it once
            found = bundle.index.get(_FAST_KEY)
            if found is None:
                found = {}
                for program in _distinct_programs(bundle):
                    source = getattr(program, "source", None)
                    context = getattr(program, "context", "")
                    if isinstance(source, str) and context:
                        fn = compile_fast(source, context, getattr(program, "result", "bool"))
                        if fn is not None:
                            found[id(program)] = fn
                bundle.index[_FAST_KEY] = found
    return found


def prepare(bundle: Bundle) -> None:
    """Do now what the first evaluation of a bundle would do once (Python forms and batched
    programs), so that a service's first requests on a new revision are not the slow ones."""
    order = Order("", dt.date(2000, 1, 1), "XXX", "", {}, [])
    scope = CelScope(bundle, order)
    if bundle.programs:
        scope.session  # noqa: B018 - builds and keeps the bundle's batches


def _owner(bundle: Bundle, wanted: CelBackend) -> CelBackend:
    """The backend that compiled the bundle's programs: only it can evaluate them."""
    if not bundle.programs:
        return wanted
    try:
        own = get_backend(bundle.backend)
    except ValueError:  # a custom backend object was used to load: trust the caller
        return wanted
    return wanted if own.name == wanted.name else own


def _named_fields(bundle: Bundle) -> frozenset[str] | None:
    """Every word of the bundle's CEL sources; None when a program's source is unknown.

    A message field can only be read by naming it (the checker refuses any other access), so
    fields named nowhere need not be converted for the runtime: converting the order is the
    largest fixed cost of evaluating CEL.
    """
    found = bundle.index.get(_FIELDS_KEY, False)
    if found is False:
        words: set[str] = set()
        for program in bundle.programs.values():
            source = getattr(program, "source", None)
            if not isinstance(source, str):
                found = None
                break
            words.update(_WORD.findall(source))
        else:
            # sessions bind `customer` and index `order.lines` themselves
            found = frozenset(words | {"customer", "lines"})
        bundle.index[_FIELDS_KEY] = found
    return found


def _pruned(message: str, view: dict[str, Any], keep: frozenset[str] | None) -> dict[str, Any]:
    """The view without the fields no program names (nested messages too)."""
    if keep is None:
        return view
    out: dict[str, Any] = {}
    for name, kind in MESSAGES[message]:
        if name not in keep:
            continue
        value = view[name]
        if kind in MESSAGES:
            value = _pruned(kind, value, keep)
        elif kind.startswith("list<") and kind[5:-1] in MESSAGES:
            value = [_pruned(kind[5:-1], item, keep) for item in value]
        out[name] = value
    return out


class CelScope:
    """Evaluates a bundle's compiled CEL for one order; each view is converted once."""

    def __init__(self, bundle: Bundle, order: Order,
                 backend: CelBackend | str | None = None, fast: bool = True) -> None:
        self.bundle = bundle
        self.order = order
        if backend is None or isinstance(backend, str):
            backend = get_backend(backend or bundle.backend)
        self.backend: CelBackend = _owner(bundle, backend)
        self._fast: dict[int, Compiled] = (
            fast_programs(bundle) if fast and self.backend.name in FAST_BACKENDS else {})
        # the views are built on first use: an order whose rules hold no CEL never pays
        self._views: dict[str, Any] | None = None
        self._line_views: list[dict[str, Any]] = []
        self._amounts: tuple[list[PricedLine], int] | None = None
        self._position = {line.index: pos for pos, line in enumerate(order.lines)}
        self._session: CelSession | None = None
        self._invoice_in: Any = None
        self._invoice_view: dict[str, Any] = {}

    @property
    def order_view(self) -> dict[str, Any]:
        """The `order` variable (built once, with the line amounts once they are known)."""
        view = self._views
        if view is None:
            view = self._views = order_view(self.order, self.bundle.products)
            self._line_views = view["lines"]
            if self._amounts is not None:
                self._fill(*self._amounts)
        return view

    @property
    def line_views(self) -> list[dict[str, Any]]:
        """The `line` variables, in order position."""
        if self._views is None:
            self.order_view  # noqa: B018 - builds the views
        return self._line_views

    @property
    def session(self) -> CelSession:
        """The backend session over the current views (built on first use)."""
        if self._session is None:
            key = f"{_BATCH_KEY}:{self.backend.name}:{bool(self._fast)}"
            batch = self.bundle.index.get(key)
            if batch is None and key not in self.bundle.index:
                # built once per bundle; a concurrent duplicate build is harmless. Programs
                # with a Python form join the batch only as a fallback, one by one.
                fast = self._fast
                batch = self.backend.batch(
                    [p for p in _distinct_programs(self.bundle) if id(p) not in fast])
                self.bundle.index[key] = batch
            self._session = self.backend.session(
                _pruned("Order", self.order_view, _named_fields(self.bundle)), batch)
        return self._session

    def set_line_amounts(self, priced_lines: Iterable[PricedLine], exponent: int) -> None:
        """Fill `line.amount_minor`, `line.product_type` and `order.subtotal_minor`."""
        self._amounts = (list(priced_lines), exponent)
        if self._views is not None:
            self._fill(*self._amounts)
            self._session = None  # convert the changed views once more

    def _fill(self, priced_lines: list[PricedLine], exponent: int) -> None:
        views = self._line_views
        for priced in priced_lines:
            view = views[self._position.get(priced.order_line.index, priced.order_line.index)]
            minor = (priced.amount.scaleb(exponent)).to_integral_value()
            view["amount_minor"] = int(minor)
            view["product_type"] = priced.product_type
        self.order_view["subtotal_minor"] = sum(v["amount_minor"] for v in views)

    def _program(self, doc: PolicyDoc, field: str) -> tuple[str, Any]:
        path = _PATHS.get(field)
        if path is None:
            path = _PATHS[field] = field if field.startswith("spec.") else f"spec.{field}"
        return path, self.bundle.programs.get((doc.name, path))

    def _error(self, doc: PolicyDoc, path: str, program: Any, exc: Exception) -> BillplaneError:
        source = " ".join(str(getattr(program, "source", "")).split())
        code = getattr(exc, "code", "cel_eval_error")
        return BillplaneError(Diagnostic(
            code, f"{path} `{source}` failed: {exc}", doc.location, doc.name))

    def order_true(self, doc: PolicyDoc, field: str) -> bool:
        """Evaluate an order-context condition; True when the rule has no such field."""
        path, program = self._program(doc, field)
        if program is None:
            return True
        fn = self._fast.get(id(program))
        if fn is not None:
            view = self._views or self.order_view
            try:
                return bool(fn(view, None, view["customer"], None))
            except Fallback:
                pass
        try:
            return bool((self._session or self.session).order(program))
        except CelEvalError as exc:
            raise self._error(doc, path, program, exc) from None

    def line_true(self, doc: PolicyDoc, field: str, index: int) -> bool:
        """Evaluate a line-context condition for the line whose `index` is given."""
        # the hot path of evaluation (every rule x every line): kept free of extra calls
        path = _PATHS.get(field) or self._program(doc, field)[0]
        program = self.bundle.programs.get((doc.name, path))
        if program is None:
            return True
        position = self._position.get(index)
        if position is None:
            raise self._error(doc, path, program, CelEvalError(f"the order has no line {index}"))
        fn = self._fast.get(id(program))
        if fn is not None:
            view = self._views or self.order_view
            try:
                return bool(fn(view, self._line_views[position], view["customer"], None))
            except Fallback:
                pass
        try:
            return bool((self._session or self.session).line(program, position))
        except CelEvalError as exc:
            raise self._error(doc, path, program, exc) from None

    def validation_true(self, doc: PolicyDoc, field: str, invoice_view: dict[str, Any]) -> bool:
        """Evaluate a validation condition with `invoice` = invoice_view (missing fields 0/'')."""
        path, program = self._program(doc, field)
        if program is None:
            return True
        if invoice_view is not self._invoice_in:
            self._invoice_in = invoice_view
            self._invoice_view = shape("Invoice", invoice_view)
        fn = self._fast.get(id(program))
        if fn is not None:
            view = self._views or self.order_view
            try:
                return bool(fn(view, None, view["customer"], self._invoice_view))
            except Fallback:
                pass
        try:
            return bool(self.session.validation(program, self._invoice_view))
        except CelEvalError as exc:
            raise self._error(doc, path, program, exc) from None
