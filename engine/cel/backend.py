"""The backend interface: compile an expression for a context, evaluate it on an activation."""

from __future__ import annotations

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
    """A CEL runtime error (missing key, bad type, overflow...)."""


class CelProgram(Protocol):
    source: str

    def evaluate(self, activation: Any) -> Any:
        """Evaluate on an activation made by the backend; plain Python result."""


class CelBackend(Protocol):
    name: str

    def compile(self, expression: str, context: Context, result: str = "bool") -> CelProgram:
        """Parse, check limits and type-check; raise CelCompileError."""

    def activation(self, variables: dict[str, Any]) -> Any:
        """Convert variables (plain dicts/lists/str/int/bool) once for many evaluations."""


def get_backend(name: str = "cel-expr") -> CelBackend:
    """Return the backend called `name` (`cel-expr` default, `cel-python` fallback)."""
    if name in ("cel-expr", "cel-expr-python", "cpp"):
        from engine.cel.cpp import CppBackend

        return CppBackend()
    if name in ("cel-python", "python"):
        from engine.cel.pure import PureBackend

        return PureBackend()
    raise ValueError(f"unknown CEL backend {name!r} (use cel-expr or cel-python)")
