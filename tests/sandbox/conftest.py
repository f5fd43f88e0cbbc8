"""Fixtures for sandbox tests: a git repository of test policies and an order history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sandbox_repo import make_repo, orders, write_orders


def real_engine_available() -> bool:
    try:
        import engine.evaluate  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def policy_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(repository path, base sha) with the test policies on main."""
    path = tmp_path_factory.mktemp("policies") / "repo"
    return path, make_repo(path)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    """300 varied orders as JSON Lines."""
    path = tmp_path_factory.mktemp("history") / "orders.jsonl"
    return write_orders(path, orders(300))


@pytest.fixture()
def needs_engine() -> Any:
    if not real_engine_available():
        pytest.skip("engine.evaluate is not available yet")
