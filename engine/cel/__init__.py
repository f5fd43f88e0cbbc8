"""CEL: one small backend interface, two implementations (C++ runtime default, pure Python)."""

from __future__ import annotations

from engine.cel.backend import (
    CelBackend,
    CelCompileError,
    CelEvalError,
    CelProgram,
    CelSession,
    Context,
    get_backend,
)

__all__ = ["CelBackend", "CelCompileError", "CelEvalError", "CelProgram", "CelSession", "Context",
           "get_backend"]
