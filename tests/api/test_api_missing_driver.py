"""A PostgreSQL URL without the `postgres` extra: one line saying what to install, exit 2.

The driver's absence is simulated (`psycopg` unimportable), nothing is uninstalled.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from api.cli.main import main

URL = "postgresql://billplane@127.0.0.1:1/none"
COMMANDS = [
    pytest.param(["keys", "create", "--role", "admin", "--database-url", URL], {},
                 id="keys-create"),
    pytest.param(["keys", "list"], {"BILLPLANE_DATABASE_URL": URL}, id="keys-list-env"),
    pytest.param(["keys", "create"], {"BILLPLANE_DATABASE_URL": "postgres://x@h/db"},
                 id="keys-create-postgres-scheme"),
    pytest.param(["serve", "--policies", "{policies}", "--database-url", URL], {},
                 id="serve"),
    pytest.param(["serve", "--policies", "{policies}"], {"BILLPLANE_DATABASE_URL": URL},
                 id="serve-env"),
]


@pytest.mark.parametrize(("argv", "env"), COMMANDS)
def test_a_missing_postgres_driver_is_one_line_and_exit_2(
        argv: list[str], env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` fails as if absent
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    started: list[object] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.append(a))
    code = main([a.format(policies=tmp_path) for a in argv])
    captured = capsys.readouterr()
    assert (code, started, captured.out) == (2, [], "")
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"billplane {argv[0]}: PostgreSQL needs the postgres extra")
    assert "pip install -e '.[postgres]'" in line and "billplane[postgres]" in line
    assert "Traceback" not in captured.err


def test_other_missing_modules_are_not_called_a_missing_driver(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from api.db import Database
    from api.settings import MissingDriver

    def broken(*_: object, **__: object) -> None:
        raise ModuleNotFoundError("No module named 'something_else'", name="something_else")

    monkeypatch.setattr("api.db.create_engine", broken)
    with pytest.raises(ModuleNotFoundError) as err:
        Database(URL)
    assert not isinstance(err.value, MissingDriver)
