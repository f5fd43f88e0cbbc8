"""Role x endpoint matrix: every cell's status, from tests/cases/api-roles/*.yaml.

A case names an endpoint and the status expected for each caller: `none` (no key), and one
key per role. `$order` stands for a valid order; `$auditor_prefix` for the auditor key's
prefix. Each cell runs on a fresh store holding two issued invoices: T-2026-00001, and
T-2026-00002 with credit note CN-T-000001 and credit note request 1 (by the billing key)
awaiting approval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_fakes import order
from api_service import Service

CASES = Path(__file__).resolve().parent.parent / "cases" / "api-roles"
CALLERS = ("none", "billing", "auditor", "approver", "admin")


def _cells() -> list[Any]:
    cells = []
    for path in sorted(CASES.glob("*.yaml")):
        case = yaml.safe_load(path.read_text())
        assert set(case["expect"]) == set(CALLERS), path.name
        for caller in CALLERS:
            cells.append(pytest.param(case, caller, id=f"{path.stem}-{caller}"))
    return cells


def test_cases_exist() -> None:
    assert len(list(CASES.glob("*.yaml"))) >= 22


@pytest.mark.parametrize(("case", "caller"), _cells())
def test_role_matrix(case: dict[str, Any], caller: str, tmp_path: Path) -> None:
    s = Service(f"sqlite:///{tmp_path / 'roles.db'}")
    try:
        billing = s.auth("billing")
        for n in (1, 2):
            r = s.client.post("/v1/invoices", json={"order": order(n)}, headers=billing)
            assert r.status_code == 201
        notes = "/v1/invoices/T-2026-00002/credit-notes"
        r = s.client.post(notes, json={"amount": "1.00", "reason": "r"}, headers=billing)
        assert r.status_code == 201 and r.json()["number"] == "CN-T-000001"
        r = s.client.post(notes, json={"amount": "20.00", "reason": "r"}, headers=billing)
        assert r.status_code == 202 and r.json()["id"] == 1
        prefix = s.keys["auditor"].split("_")[1]
        text = json.dumps(case.get("body")) if "body" in case else None
        if text is not None:
            text = text.replace('"$order"', json.dumps(order(3)))
        path = case["path"].replace("$auditor_prefix", prefix)
        headers = {"Content-Type": "application/json", **s.auth(caller)}
        r = s.client.request(case["method"], path, content=text, headers=headers)
        assert r.status_code == case["expect"][caller], r.text
        if r.status_code >= 400:
            assert set(r.json()) == {"code", "message", "details"}
    finally:
        s.close()


def test_a_refusal_by_role_says_in_words_what_the_role_may_not_do(tmp_path: Path) -> None:
    """It read "role 'billing' may not keys"."""
    from api.auth import ACTS, PERMISSIONS

    assert set(ACTS) == set().union(*PERMISSIONS.values())
    s = Service(f"sqlite:///{tmp_path / 'words.db'}")
    try:
        for role, path, words in (("billing", "/v1/keys", "manage API keys"),
                                  ("billing", "/v1/audit", "read the audit log and stored"
                                                           " orders"),
                                  ("auditor", "/v1/policy", None)):
            r = s.client.get(path, headers=s.auth(role))
            if words is None:
                assert r.status_code == 200, r.text
                continue
            assert (r.status_code, r.json()["message"]) == (
                403, f"role {role!r} may not {words}")
    finally:
        s.close()
