"""One error type for the whole product: a stable code, a message and a location."""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MESSAGE_VALUE_LIMIT = 80
"""Longest value a message quotes: a 2 MB description must not become 2 MB of output."""

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MESSAGE_VALUE_LIMIT


@dataclass(frozen=True, order=True)
class Location:
    """Where something is: a file (relative to the policy root), 1-based line and column."""

    file: str = ""
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.file:
            return "<input>"
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in policies or input. `str()` reads `path:line:col: code: message`."""

    code: str
    message: str
    location: Location = field(default_factory=Location)
    rule: str = ""
    severity: str = "error"

    def sort_key(self) -> tuple[Any, ...]:
        return (self.location.file, self.location.line, self.location.column, self.code,
                self.message)

    def __str__(self) -> str:
        rule = f" [{self.rule}]" if self.rule else ""
        return f"{self.location}: {self.code}: {self.message}{rule}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "rule": self.rule,
            "severity": self.severity,
        }


class BillplaneError(Exception):
    """Raised with one or more diagnostics; the message lists them sorted."""

    def __init__(self, diagnostics: Iterable[Diagnostic] | Diagnostic | str, code: str = ""):
        if isinstance(diagnostics, str):
            diagnostics = [Diagnostic(code or "error", diagnostics)]
        elif isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    @property
    def code(self) -> str:
        return self.diagnostics[0].code if self.diagnostics else "error"


def fail(
    code: str, message: str, location: Location | None = None, rule: str = ""
) -> BillplaneError:
    """Build a single-diagnostic error (callers `raise fail(...)`)."""
    return BillplaneError(Diagnostic(code, message, location or Location(), rule))


def excerpt(text: str, limit: int = MESSAGE_VALUE_LIMIT) -> str:
    """Text for a message, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def shown(value: Any, limit: int = MESSAGE_VALUE_LIMIT) -> str:
    """A value for a message: a string quoted, a number as written, anything at most `limit`."""
    if isinstance(value, str):
        return repr(excerpt(value, limit))
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return excerpt(str(value), limit)
    return excerpt(_REPR.repr(value), limit)
