"""The fallback backend: cel-python (`celpy`), the pure-Python CEL interpreter.

cel-python does not type-check, so expressions are checked with the C++ typed checker first:
both backends accept and reject exactly the same policies. Known deviations of cel-python
from the CEL spec (avoid them in policies meant for both backends): `1 + 1u` is 2 instead
of a type error, and equality between different types is an error instead of false. Both use
RE2 for `matches()` (cel-python through google-re2). cel-python has no iteration budget of its
own: the static limits (engine.cel.limits) bound what it can be asked to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import celpy
from celpy import celtypes

from engine.cel.backend import CelCompileError, CelEvalError, Context, check_result
from engine.cel.cpp import type_check

_ENV = celpy.Environment()


def plain(value: Any) -> Any:
    """A celpy value as plain Python (bool, int, str, list, dict...)."""
    if isinstance(value, celpy.CELEvalError):
        raise CelEvalError(_message(value))
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celtypes.IntType, celtypes.UintType)):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        return float(value)
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.BytesType):
        return bytes(value)
    if isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    return str(args[0]) if args else type(exc).__name__


class PureProgram:
    """A checked expression compiled by cel-python's interpreter."""

    def __init__(self, source: str, context: Context, result: str, runner: Any) -> None:
        self.source = source
        self.context = context
        self.result = result
        self._runner = runner

    def evaluate(self, activation: Any) -> Any:
        """Evaluate on converted variables; raise CelEvalError on any runtime error."""
        try:
            value = self._runner.evaluate(activation)
        except celpy.CELEvalError as exc:
            raise CelEvalError(_message(exc)) from None
        except (TypeError, ValueError, KeyError, IndexError, ArithmeticError,
                RecursionError) as exc:
            raise CelEvalError(f"{type(exc).__name__}: {exc}") from None
        return check_result(plain(value), self.result)


class PureSession:
    """One order's views converted once into celpy values."""

    def __init__(self, order_view: dict[str, Any]) -> None:
        self._order_view = order_view
        converted = cast(Mapping[Any, Any], celpy.json_to_cel(order_view))
        self._order = converted
        self._customer = converted[celtypes.StringType("customer")]
        self._lines = converted[celtypes.StringType("lines")]
        self._base = {"order": self._order, "customer": self._customer}
        self._invoice: tuple[Any, dict[str, Any]] | None = None

    def order(self, program: PureProgram) -> Any:
        """Evaluate an order-context program."""
        return program.evaluate(self._base)

    def line(self, program: PureProgram, index: int) -> Any:
        """Evaluate a line-context program for line `index`."""
        return program.evaluate({"order": self._order, "customer": self._customer,
                                 "line": self._lines[index]})

    def validation(self, program: PureProgram, invoice_view: dict[str, Any]) -> Any:
        """Evaluate a validation program; the invoice is converted once per view."""
        if self._invoice is None or self._invoice[0] is not invoice_view:
            self._invoice = (invoice_view, {"order": self._order, "customer": self._customer,
                                            "invoice": celpy.json_to_cel(invoice_view)})
        return program.evaluate(self._invoice[1])


class PureBackend:
    """cel-python: slower, pure Python; the same checks as the default backend."""

    name = "cel-python"

    def compile(self, expression: str, context: Context, result: str = "bool") -> PureProgram:
        """Check limits and types with the typed checker, then compile with cel-python."""
        type_check(expression, context, result)
        try:
            ast = _ENV.compile(expression)
            runner = _ENV.program(ast)
        except celpy.CELParseError as exc:
            line = int(getattr(exc, "line", 0) or 1)
            column = int(getattr(exc, "column", 0) or 1)
            first = str(exc).split("\n", 1)[0]
            raise CelCompileError("cel_syntax_error", f"cel-python: {first}", line,
                                  column) from None
        return PureProgram(expression, context, result, runner)

    def activation(self, variables: dict[str, Any]) -> Any:
        """Convert plain variables into celpy values once for many evaluations."""
        return {name: celpy.json_to_cel(value) for name, value in variables.items()}

    def batch(self, programs: Sequence[Any]) -> None:
        """cel-python gains nothing from batching."""
        return None

    def session(self, order_view: dict[str, Any], batch: Any = None) -> PureSession:
        """Evaluate programs against one order's views."""
        return PureSession(order_view)
