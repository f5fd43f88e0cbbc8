"""The engine stays pure: no web, database, git or network imports under engine/."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parent.parent / "engine"
FORBIDDEN = {"fastapi", "starlette", "sqlmodel", "sqlalchemy", "git", "httpx", "requests",
             "uvicorn", "psycopg", "socket", "urllib", "subprocess", "api", "sandbox", "ci"}


def test_engine_imports_no_io_library() -> None:
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ENGINE.parent)}:{node.lineno}: {name}")
    assert offenders == []
