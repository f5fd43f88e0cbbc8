"""The service over the real engine and the example policies in policies/.

Expected amounts are the hand-worked ones of policies/tests/pricing.yaml (case 1):
12 monthly seats, graduated: 10 x 30.00 + 2 x 25.00 = 350.00; UK VAT 20 % = 70.00.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from api_fakes import Clock
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import create_key
from api.port import RealEngine
from api.settings import Settings

POLICIES = Path(__file__).resolve().parent.parent.parent / "policies"
ORDER = {
    "id": "T-PRICE-1", "date": "2026-03-01", "currency": "GBP", "seller": "northwind-uk",
    "customer": {"id": "C-UK-SMB", "name": "Fenwick Analytics Ltd", "country": "GB",
                 "postcode": "M1 1AE", "type": "business", "tax_id": "GB123456789",
                 "segment": "smb",
                 "address": {"line1": "1 Piccadilly", "city": "Manchester",
                             "postcode": "M1 1AE", "country": "GB"}},
    "lines": [{"sku": "SEAT-MONTHLY", "quantity": "12",
               "period": {"start": "2026-03-01", "end": "2026-04-01"}}],
}


@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    engine = RealEngine()
    ok, why = engine.run_tests(engine.load_directory(POLICIES))
    if not ok:
        pytest.skip(f"the example policies do not pass their PolicyTests yet: {why[:200]}")
    clock = Clock()
    clock.now = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
    copy = tmp_path / "policies"  # outside git: its revision is its content's digest
    shutil.copytree(POLICIES, copy)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'r.db'}", policies=copy,
                        clock=clock)
    app = create_app(settings, port=engine)
    with app.state.services.db.write() as s:
        token = create_key(s, settings, "billing", "t", "test")[1]
    with TestClient(app) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def test_evaluate_and_issue_with_the_example_policies(
        real: tuple[TestClient, dict[str, str]]) -> None:
    client, h = real
    r = client.post("/v1/invoices/evaluate", json={"order": ORDER}, headers=h)
    assert r.status_code == 200, r.text
    totals = r.json()["invoice"]["totals"]
    assert (totals["net"], totals["tax"], totals["total"]) == ("350.00", "70.00", "420.00")
    r = client.post("/v1/invoices", json={"order": ORDER}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["number"] == "NWUK-2026-000001"
    # the UK terms allow credit notes up to 100 %, approval above 50 %: 210.00 is 50 %,
    # split by the invoice's 20 % VAT line: 175.00 net + 35.00 tax
    r = client.post("/v1/invoices/NWUK-2026-000001/credit-notes",
                    json={"amount": "210.00", "reason": "seats returned"}, headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["net"], r.json()["tax"]) == ("175.00", "35.00")
    r = client.post("/v1/invoices/NWUK-2026-000001/credit-notes",
                    json={"amount": "0.01", "reason": "rounding"}, headers=h)
    assert (r.status_code, r.json()["status"]) == (202, "pending_approval")


def _issue_example(client: TestClient, h: dict[str, str], name: str) -> dict[str, Any]:
    """The issued invoice resource of examples/<name>.json."""
    order = json.loads((POLICIES.parent / "examples" / f"{name}.json").read_text())
    r = client.post("/v1/invoices", json={"order": order}, headers=h)
    assert r.status_code == 201, r.text
    resource: dict[str, Any] = r.json()
    return resource


def test_credit_notes_split_tax_by_the_invoices_tax_lines(
        real: tuple[TestClient, dict[str, str]]) -> None:
    client, h = real
    issued = _issue_example(client, h, "uk-consumer")
    number = issued["number"]
    # 90.00 with two VAT lines: 9.00 on 45.00 (exclusive) and 6.00 on 30.00 (inclusive)
    assert [(t["taxable"], t["amount"]) for t in issued["invoice"]["tax_summary"]] == [
        ("45.00", "9.00"), ("30.00", "6.00")]
    first = client.post(f"/v1/invoices/{number}/credit-notes",
                        json={"amount": "30.00", "reason": "one seat"}, headers=h).json()
    assert (first["net"], first["tax"]) == ("25.00", "5.00")
    assert [(t["taxable"], t["amount"]) for t in first["tax_lines"]] == [
        ("15.00", "3.00"), ("10.00", "2.00")]
    rest = client.post(f"/v1/invoices/{number}/credit-notes",
                       json={"amount": "60.00", "reason": "cancelled"}, headers=h).json()
    assert (rest["net"], rest["tax"], rest["settles"]) == ("50.00", "10.00", True)


def test_a_credit_note_repeats_the_reverse_charge_statement(
        real: tuple[TestClient, dict[str, str]]) -> None:
    client, h = real
    invoice = _issue_example(client, h, "eu-b2b-reverse-charge")
    (line,) = invoice["invoice"]["tax_summary"]
    assert line["reverse_charge"] and "reverse charge" in line["reason"].lower()
    half = str(Decimal(invoice["invoice"]["totals"]["total"]) / 2)
    r = client.post(f"/v1/invoices/{invoice['number']}/credit-notes",
                    json={"amount": half, "reason": "half the seats"}, headers=h)
    assert r.status_code == 201, r.text
    note = r.json()
    assert (note["tax"], note["net"]) == ("0.00", half)
    assert [(t["reverse_charge"], t["reason"], t["amount"]) for t in note["tax_lines"]] == [
        (True, line["reason"], "0.00")]
    # the invoice resource shows the note with the same statement
    shown = client.get(f"/v1/invoices/{invoice['number']}", headers=h).json()
    assert shown["credit_notes"][0]["tax_lines"] == note["tax_lines"]


def test_a_draft_without_trace_is_the_same_invoice(
        real: tuple[TestClient, dict[str, str]]) -> None:
    client, h = real
    traced = client.post("/v1/invoices/evaluate", json={"order": ORDER}, headers=h).json()
    r = client.post("/v1/invoices/evaluate", json={"order": ORDER, "trace": False}, headers=h)
    assert r.status_code == 200, r.text
    bare = r.json()
    assert traced["invoice"]["trace"] and bare["invoice"]["trace"] == []
    assert {**traced["invoice"], "trace": []} == bare["invoice"]
    assert (bare["revision"], bare["blocked"]) == (traced["revision"], traced["blocked"])
    refused = client.post("/v1/invoices/evaluate", json={"order": ORDER, "trace": "no"},
                          headers=h)
    assert refused.status_code == 422
    assert refused.json()["details"][0]["loc"] == ["body", "trace"]


def test_terms_run_from_the_issue_date(real: tuple[TestClient, dict[str, str]]) -> None:
    client, h = real
    # supplied on 2026-02-10, issued on 2026-03-02 (the service clock): smb terms are net 30
    # from the invoice date, so due 2026-04-01, not 2026-03-12
    order = {**ORDER, "id": "T-LATE-1", "date": "2026-02-10",
             "lines": [{"sku": "SEAT-MONTHLY", "quantity": "12",
                        "period": {"start": "2026-02-01", "end": "2026-03-01"}}]}
    draft = client.post("/v1/invoices/evaluate", json={"order": order}, headers=h).json()
    assert draft["invoice"]["payment"]["due_date"] == "2026-03-12"
    r = client.post("/v1/invoices", json={"order": order}, headers=h)
    assert r.status_code == 201, r.text
    doc = r.json()["invoice"]
    assert (doc["date"], doc["invoice_date"], doc["provenance"]["as_of"]) == (
        "2026-02-10", "2026-03-02", "2026-03-02")
    assert doc["payment"]["due_date"] == "2026-04-01"
    # February's revenue was earned before the March invoice: unbilled receivable
    first = doc["recognition"]["journal"][0]
    assert (first["period"], first["account"]) == ("2026-02", "unbilled_receivable")
    refused = client.post("/v1/invoices", json={"order": {**order, "id": "T-LATE-2"},
                                                "as_of": "2026-02-10"}, headers=h)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_as_of")


def test_failing_policy_tests_name_the_case_line(tmp_path: Path) -> None:
    """A refusal (and so the readiness detail) names a failing case by its own line, as
    `billplane test` does, whether the policies come from a directory or a git revision."""
    import subprocess

    copy = tmp_path / "repo" / "policies"
    shutil.copytree(POLICIES, copy)
    path = copy / "tests" / "pricing.yaml"
    text = path.read_text()
    assert '        totals.total: "1800.00"\n' in text
    path.write_text(text.replace('        totals.total: "1800.00"\n',
                                 '        totals.total: "1800.01"\n', 1))
    line = text.splitlines().index("    - name: graduated monthly seats reach the top tier") + 1
    engine = RealEngine()
    ok, why = engine.run_tests(engine.load_directory(copy))
    assert not ok
    assert why == (f"1 case(s) failed: tests/pricing.yaml:{line} graduated monthly seats "
                   "reach the top tier")
    repo = copy.parent
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(repo)}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "policies"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    ok, why = engine.run_tests(engine.load_git(repo, "HEAD", "policies"))
    assert not ok and f"tests/pricing.yaml:{line} graduated" in why
