"""The backend interface: compile an expression for a context, evaluate it on an activation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

Context = Literal["order", "line", "validation"]
"""Which variables an expression sees: `order`/`customer`; plus `line`; plus `invoice`."""


class CelCompileError(Exception):
    """A CEL expression that does not parse or type-check; line/column inside the expression."""

    def __init__(self, code: str, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.line = line
        self.column = column


class CelEvalError(Exception):
    """A CEL runtime error (missing key, bad type, overflow, a runtime limit...)."""

    def __init__(self, message: str, code: str = "cel_eval_error") -> None:
        super().__init__(message)
        self.code = code


_RESULT_PYTHON: dict[str, tuple[type, ...]] = {"bool": (bool,), "string": (str,), "int": (int,)}


def check_result(value: Any, result: str) -> Any:
    """Return `value` if it has the declared result type, else raise CelEvalError."""
    wanted = _RESULT_PYTHON.get(result)
    if wanted is None:
        return value
    if not isinstance(value, wanted) or (result == "int" and isinstance(value, bool)):
        raise CelEvalError(f"expression must give a {result}, it gave {type(value).__name__}")
    return value


class CelProgram(Protocol):
    source: str
    context: Context
    result: str

    def evaluate(self, activation: Any) -> Any:
        """Evaluate on an activation made by the backend; plain Python result."""


class CelSession(Protocol):
    """One order's views, converted once, against which many programs are evaluated."""

    def order(self, program: Any) -> Any:
        """Evaluate an `order`-context program."""

    def line(self, program: Any, index: int) -> Any:
        """Evaluate a `line`-context program with `line` = order.lines[index]."""

    def validation(self, program: Any, invoice_view: dict[str, Any]) -> Any:
        """Evaluate a `validation`-context program with `invoice` = invoice_view."""


class CelBackend(Protocol):
    name: str

    def compile(self, expression: str, context: Context, result: str = "bool") -> CelProgram:
        """Parse, check limits and type-check; raise CelCompileError."""

    def activation(self, variables: dict[str, Any]) -> Any:
        """Convert variables (plain dicts/lists/str/int/bool) once for many evaluations."""

    def batch(self, programs: Sequence[Any]) -> Any:
        """Precompute whatever makes evaluating these programs together faster (or None)."""

    def session(self, order_view: dict[str, Any], batch: Any = None) -> CelSession:
        """Evaluate programs against one order view (with `customer` inside it)."""


def get_backend(name: str = "cel-expr") -> CelBackend:
    """Return the backend called `name` (`cel-expr` default, `cel-python` fallback)."""
    if name in ("cel-expr", "cel-expr-python", "cpp"):
        from engine.cel.cpp import CppBackend

        return CppBackend()
    if name in ("cel-python", "python"):
        from engine.cel.pure import PureBackend

        return PureBackend()
    raise ValueError(f"unknown CEL backend {name!r} (use cel-expr or cel-python)")
