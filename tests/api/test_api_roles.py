"""Role x endpoint matrix: every cell's status, from tests/cases/api-roles/*.yaml.

A case names an endpoint and the status expected for each caller: `none` (no key), and one
key per role. `$order` stands for a valid order; `$auditor_prefix` for the auditor key's
prefix. Each cell runs on a fresh store holding one issued invoice, T-2026-00001.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_fakes import order
from conftest import Service

CASES = Path(__file__).resolve().parent.parent / "cases" / "api-roles"
CALLERS = ("none", "billing", "auditor", "admin")


def _cells() -> list[Any]:
    cells = []
    for path in sorted(CASES.glob("*.yaml")):
        case = yaml.safe_load(path.read_text())
        assert set(case["expect"]) == set(CALLERS), path.name
        for caller in CALLERS:
            cells.append(pytest.param(case, caller, id=f"{path.stem}-{caller}"))
    return cells


def test_cases_exist() -> None:
    assert len(list(CASES.glob("*.yaml"))) >= 15


@pytest.mark.parametrize(("case", "caller"), _cells())
def test_role_matrix(case: dict[str, Any], caller: str, tmp_path: Path) -> None:
    s = Service(f"sqlite:///{tmp_path / 'roles.db'}")
    try:
        r = s.client.post("/v1/invoices", json={"order": order(1)}, headers=s.auth("billing"))
        assert r.status_code == 201
        prefix = s.keys["auditor"].split("_")[1]
        text = json.dumps(case.get("body")) if "body" in case else None
        if text is not None:
            text = text.replace('"$order"', json.dumps(order(2)))
        path = case["path"].replace("$auditor_prefix", prefix)
        headers = {"Content-Type": "application/json", **s.auth(caller)}
        r = s.client.request(case["method"], path, content=text, headers=headers)
        assert r.status_code == case["expect"][caller], r.text
        if r.status_code >= 400:
            assert set(r.json()) == {"code", "message", "details"}
    finally:
        s.close()
