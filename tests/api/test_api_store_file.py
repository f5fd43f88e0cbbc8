"""A new SQLite store is created readable by its owner only: it holds every issued invoice
with its customer's name, address and tax id, and the hashes of the API keys."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy import text

from api.db import Database


def test_a_new_sqlite_store_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "var" / "billplane.db"
    old = os.umask(0o022)  # the usual umask: new files readable by everyone
    try:
        db = Database(f"sqlite:///{path}")
        db.migrate()
        with db.write() as s:
            s.execute(text("SELECT 1"))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files if p.exists()}
        db.dispose()
    finally:
        os.umask(old)
    assert path.name in modes and f"{path.name}-wal" in modes
    assert all(mode & 0o077 == 0 for mode in modes.values()), modes


def test_an_existing_store_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "billplane.db"
    path.touch()
    path.chmod(0o640)  # an operator's choice (a group that backs the store up)
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
