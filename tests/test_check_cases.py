"""Data-driven `check` cases: tests/cases/check/<name>.yaml, one policy tree and its findings.

A case starts from the valid tree in tests/cases/check/_base (unless `base: false`), adds or
replaces `files` (text, `{base64: ...}` or `{parts: [text | {repeat: text, times: N}]}`),
drops `remove` paths, and lists the diagnostics it must produce in `want` (exactly, in order).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.cel.backend import CelCompileError
from engine.errors import BillplaneError
from engine.loader import load_bundle

CASES = Path(__file__).resolve().parent / "cases" / "check"
BASE = CASES / "_base"


def _real_backend_available() -> bool:
    try:
        from engine.cel import get_backend

        get_backend("cel-expr")
    except ImportError:
        return False
    return True


class _AcceptAll:
    """Stands in for CEL while no backend is installed: every expression compiles."""

    name = "accept-all"

    def compile(self, expression: str, context: str, result: str = "bool") -> object:
        if not expression:
            raise CelCompileError("cel_syntax_error", "empty", 1, 1)
        return expression

    def activation(self, variables: dict[str, Any]) -> Any:
        return variables


def _content(spec: Any) -> bytes:
    if isinstance(spec, str):
        return spec.encode()
    if "base64" in spec:
        return base64.b64decode(spec["base64"])
    out = []
    for part in spec["parts"]:
        out.append(part if isinstance(part, str) else part["repeat"] * part["times"])
    return "".join(out).encode()


def case_files(case: dict[str, Any]) -> dict[str, bytes]:
    """The policy tree a case describes."""
    files: dict[str, bytes] = {}
    if case.get("base", True):
        files = {p.relative_to(BASE).as_posix(): p.read_bytes() for p in BASE.rglob("*.yaml")}
    for path in case.get("remove", []):
        files.pop(path)
    for path, spec in (case.get("files") or {}).items():
        files[path] = _content(spec)
    return files


def _load_case(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path", sorted(CASES.glob("*.yaml")), ids=lambda p: p.stem)
def test_check_case(path: Path) -> None:
    case = _load_case(path)
    want = case["want"]
    needs_cel = any(w["code"].startswith("cel_") for w in want)
    backend: Any = "cel-expr"
    if not _real_backend_available():
        if needs_cel:
            pytest.skip("the cel-expr backend is not installed yet")
        backend = _AcceptAll()
    files = case_files(case)
    if not want:
        bundle = load_bundle(files, "test", backend=backend)
        assert bundle.docs
        return
    with pytest.raises(BillplaneError) as info:
        load_bundle(files, "test", backend=backend)
    got = [(d.code, d.location.file, d.location.line, d.location.column)
           for d in info.value.diagnostics]
    assert got == [(w["code"], w["file"], w["line"], w["column"]) for w in want], \
        "\n".join(str(d) for d in info.value.diagnostics)
    for diag, expected in zip(info.value.diagnostics, want, strict=True):
        assert expected.get("message", "") in diag.message, str(diag)


def test_every_case_has_a_note_and_wants() -> None:
    for path in sorted(CASES.glob("*.yaml")):
        case = _load_case(path)
        assert case.get("note") and "want" in case, path.name
