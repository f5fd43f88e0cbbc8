"""Credit notes and voids follow the invoice's own payment terms, counted from its issue date.

The stand-in terms (api_fakes): credit notes for 30 days, at most 100 % cumulative, approval
by another principal above 50 %; void for 7 days. The invoice is 3 x 10.00 + 20 % VAT =
36.00 (net 30.00, tax 6.00), issued at 2026-03-16 09:00 UTC: credit notes until 2026-04-15,
void until 2026-03-23.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from api_fakes import order
from api_service import Service

NUMBER = "T-2026-00001"
NOTES = f"/v1/invoices/{NUMBER}/credit-notes"


def _issue(s: Service, **extra: str) -> None:
    r = s.client.post("/v1/invoices", json={"order": order(**extra)}, headers=s.auth("billing"))
    assert r.status_code == 201, r.text


def _credit(s: Service, amount: str, role: str = "billing") -> tuple[int, dict]:
    r = s.client.post(NOTES, json={"amount": amount, "reason": "goodwill"}, headers=s.auth(role))
    return r.status_code, r.json()


def _decide(s: Service, request_id: int, verb: str, role: str = "approver") -> tuple[int, dict]:
    r = s.client.post(f"/v1/credit-note-requests/{request_id}/{verb}",
                      json={"reason": "checked with the customer"}, headers=s.auth(role))
    return r.status_code, r.json()


def _listed(s: Service, status: str) -> list[str]:
    r = s.client.get("/v1/invoices", params={"status": status}, headers=s.auth("auditor"))
    assert r.status_code == 200, r.text
    return [i["number"] for i in r.json()["items"]]


def test_credit_notes_above_the_threshold_wait_for_another_principal(service: Service) -> None:
    s = service
    _issue(s)
    # 18.00 of 36.00 = 50 %: not above the threshold, issued at once, split 15.00 + 3.00
    status, note = _credit(s, "18.00")
    assert status == 201, note
    assert (note["number"], note["amount"], note["net"], note["tax"]) == (
        "CN-T-000001", "18.00", "15.00", "3.00")
    assert note["tax_lines"] == [{"rule": "vat", "jurisdiction": "GB", "rate": "20",
                                  "reverse_charge": False, "exemption": "", "reason": "",
                                  "taxable": "15.00", "amount": "3.00"}]
    assert (note["settles"], note["approved_by"]) == (False, None)
    # the requester cannot approve by itself any more
    r = s.client.post(NOTES, json={"amount": "0.01", "reason": "x", "approved": True},
                      headers=s.auth("billing"))
    assert (r.status_code, r.json()["code"]) == (422, "invalid_request")
    # 18.01 of 36.00 = 50.03 %: a request, no number yet
    status, first = _credit(s, "0.01")
    assert status == 202, first
    assert (first["id"], first["status"], first["credit_note"]) == (1, "pending_approval", None)
    status, second = _credit(s, "17.99", role="admin")
    assert (status, second["id"]) == (202, 2)
    # the pending requests count against the 100 %: nothing more fits
    status, body = _credit(s, "0.01")
    assert (status, body["code"]) == (422, "credit_note_exceeds_limit")
    assert _decide(s, 1, "approve", role="billing")[0] == 403  # billing may not approve
    status, body = _decide(s, 2, "approve", role="admin")  # nor anyone their own request
    assert (status, body["code"]) == (403, "forbidden")
    status, approved = _decide(s, 1, "approve")
    assert status == 201, approved
    # cumulative tax share after 18.01: round(18.01 x 6 / 36, 2) = 3.00, so this one has none
    assert (approved["number"], approved["net"], approved["tax"]) == (
        "CN-T-000002", "0.01", "0.00")
    assert approved["approved_by"] == "key:" + s.keys["approver"].split("_")[1]
    assert approved["requested_by"] == "key:" + s.keys["billing"].split("_")[1]
    assert _decide(s, 1, "approve")[1]["code"] == "already_decided"
    assert _listed(s, "partially_credited") == [NUMBER]
    status, last = _decide(s, 2, "approve")
    assert status == 201
    # the last one settles the invoice: the notes' tax adds up to the invoice's 6.00 exactly
    assert (last["number"], last["net"], last["tax"], last["settles"]) == (
        "CN-T-000003", "14.99", "3.00", True)
    got = s.client.get(f"/v1/invoices/{NUMBER}", headers=s.auth("billing")).json()
    assert got["status"] == "credited"
    assert [(n["amount"], n["net"], n["tax"]) for n in got["credit_notes"]] == [
        ("18.00", "15.00", "3.00"), ("0.01", "0.01", "0.00"), ("17.99", "14.99", "3.00")]
    assert _listed(s, "credited") == [NUMBER] and _listed(s, "issued") == []
    r = s.client.get("/v1/credit-notes/CN-T-000003", headers=s.auth("auditor"))
    assert r.status_code == 200 and r.json() == last
    r = s.client.get("/v1/credit-note-requests/1", headers=s.auth("auditor")).json()
    assert (r["status"], r["credit_note"], r["decided_by"]) == (
        "approved", "CN-T-000002", approved["approved_by"])
    status, body = _credit(s, "0.01")
    assert (status, body["code"]) == (422, "credit_note_exceeds_limit")
    r = s.client.post(f"/v1/invoices/{NUMBER}/void", json={"reason": "duplicate"},
                      headers=s.auth("billing"))
    assert (r.status_code, r.json()["code"]) == (409, "invoice_has_credit_notes")
    log = s.client.get("/v1/audit", headers=s.auth("auditor")).json()["items"]
    assert [e["action"] for e in log if e["action"].startswith("credit")] == [
        "credit_note", "credit_note_requested", "credit_note_requested", "credit_note",
        "credit_note"]
    assert all(e["reason"] for e in log)


def test_a_rejected_request_credits_nothing(service: Service) -> None:
    s = service
    _issue(s)
    assert _credit(s, "10.00")[0] == 201
    status, request = _credit(s, "20.00")
    assert status == 202
    assert _listed(s, "partially_credited") == [NUMBER]
    status, body = _decide(s, request["id"], "reject")
    assert (status, body["status"], body["credit_note"]) == (200, "rejected", None)
    assert _decide(s, request["id"], "approve")[1]["code"] == "already_decided"
    got = s.client.get(f"/v1/invoices/{NUMBER}", headers=s.auth("billing")).json()
    assert got["status"] == "partially_credited" and len(got["credit_notes"]) == 1
    # the rejected 20.00 no longer counts against the limit
    assert _credit(s, "8.00")[0] == 201
    r = s.client.get("/v1/credit-note-requests/99", headers=s.auth("auditor"))
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_windows_run_from_the_issue_date_not_the_order_date(service: Service) -> None:
    s = service
    _issue(s, date="2026-01-10")  # supplied in January, invoiced on 2026-03-16
    got = s.client.get(f"/v1/invoices/{NUMBER}", headers=s.auth("billing")).json()
    assert (got["issue_date"], got["invoice"]["date"]) == ("2026-03-16", "2026-01-10")
    assert got["windows"] == {"credit_notes": {"allowed": True, "until": "2026-04-15"},
                              "void": {"allowed": True, "until": "2026-03-23"}}
    status, body = _credit(s, "1.001")
    assert (status, body["code"]) == (422, "invalid_amount")
    status, body = _credit(s, "0")
    assert (status, body["code"]) == (422, "invalid_amount")
    r = s.client.post(NOTES, json={"amount": "1.00"}, headers=s.auth("billing"))
    assert r.status_code == 422 and r.json()["details"][0]["loc"] == ["body", "reason"]
    s.clock.now = dt.datetime(2026, 4, 15, 23, 59, tzinfo=dt.UTC)
    assert _credit(s, "1.00")[0] == 201
    s.clock.now = dt.datetime(2026, 4, 16, 0, 1, tzinfo=dt.UTC)
    status, body = _credit(s, "1.00")
    assert (status, body["code"]) == (422, "credit_note_window_closed")


def test_void_window_once_and_audit(service: Service) -> None:
    s = service
    _issue(s)
    r = s.client.post(f"/v1/invoices/{NUMBER}/void", json={}, headers=s.auth("billing"))
    assert r.status_code == 422 and r.json()["details"][0]["loc"] == ["body", "reason"]
    s.clock.now = dt.datetime(2026, 3, 24, 0, 1, tzinfo=dt.UTC)
    r = s.client.post(f"/v1/invoices/{NUMBER}/void", json={"reason": "late"},
                      headers=s.auth("billing"))
    assert (r.status_code, r.json()["code"]) == (422, "void_window_closed")
    s.clock.now = dt.datetime(2026, 3, 23, 12, 0, tzinfo=dt.UTC)
    r = s.client.post(f"/v1/invoices/{NUMBER}/void", json={"reason": "duplicate"},
                      headers=s.auth("billing"))
    assert r.status_code == 200 and r.json()["status"] == "voided"
    r = s.client.post(f"/v1/invoices/{NUMBER}/void", json={"reason": "again"},
                      headers=s.auth("billing"))
    assert (r.status_code, r.json()["code"]) == (409, "already_voided")
    status, body = _credit(s, "1.00")
    assert (status, body["code"]) == (409, "invoice_voided")
    assert _listed(s, "voided") == [NUMBER]
    log = s.client.get("/v1/audit", headers=s.auth("auditor")).json()["items"]
    assert [e["action"] for e in log][-2:] == ["issue", "void"]
    assert log[-1]["reason"] == "duplicate" and log[-1]["subject"] == NUMBER
    assert log[-1]["before_digest"] != log[-1]["after_digest"]


def test_stored_documents_and_audit_refuse_update_and_delete(service: Service) -> None:
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    _issue(service)
    assert _credit(service, "30.00")[0] == 202
    for sql in ("UPDATE invoice SET total = '0.00'", "DELETE FROM invoice",
                "UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry",
                "UPDATE credit_request SET amount = '1.00'", "DELETE FROM credit_request",
                "UPDATE policy_activation SET actor = 'x'"):
        with pytest.raises(DBAPIError, match="append_only"), service.svc.db.write() as s:
            s.execute(text(sql))


def _decide_at(start: Any, answers: list[tuple[str, int, str]], client: Any, path: str,
               headers: dict[str, str]) -> None:
    start.wait()
    got = client.post(path, json={"reason": "checked"}, headers=headers)
    answers.append((path.rsplit("/", 1)[1], got.status_code, got.json().get("code", "")))


def test_one_decision_per_request_when_two_server_processes_decide_at_once(
        service: Service) -> None:
    """Each process batches its own writes; across processes (on PostgreSQL) a decision read
    before the invoice was locked let a second one through to the store's unique index (a
    500) or judge the amount against the first one's credit note (a misleading 422)."""
    import threading

    from api_fakes import FakeEngine
    from fastapi.testclient import TestClient

    from api.app import create_app

    s = service
    other = TestClient(create_app(s.settings, port=FakeEngine()))
    other.__enter__()
    try:
        for n in range(1, 7):
            r = s.client.post("/v1/invoices", json={"order": order(n)},
                              headers=s.auth("billing"))
            assert r.status_code == 201, r.text
            number = r.json()["number"]
            r = s.client.post(f"/v1/invoices/{number}/credit-notes",
                              json={"amount": "30.00", "reason": "returned"},
                              headers=s.auth("billing"))
            assert r.status_code == 202, r.text
            path = f"/v1/credit-note-requests/{r.json()['id']}"
            answers: list[tuple[str, int, str]] = []
            start = threading.Barrier(3)
            threads = [threading.Thread(target=_decide_at, args=(
                start, answers, client, f"{path}/{verb}", s.auth(role))) for client, role, verb in (
                (s.client, "approver", "approve"), (other, "admin", "approve"),
                (other, "admin", "reject"))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            decided = [a for a in answers if a[1] in (200, 201)]
            assert len(decided) == 1, answers
            assert all(a[1:] == (409, "already_decided") for a in answers
                       if a not in decided), answers
            got = s.client.get(f"/v1/invoices/{number}", headers=s.auth("billing")).json()
            assert len(got["credit_notes"]) == (1 if decided[0][0] == "approve" else 0)
    finally:
        other.__exit__(None, None, None)
        other.app.state.services.db.dispose()  # type: ignore[attr-defined]


def test_a_credit_note_just_above_the_limit_says_so(service: Service) -> None:
    """3600.01 of a 3600.00 invoice is 100.0003 %: it read "would total 100.00%; the terms
    allow 100%"."""
    big = order()
    big["lines"][0]["unit_price"] = "1000.00"
    r = service.client.post("/v1/invoices", json={"order": big}, headers=service.auth("billing"))
    assert (r.status_code, r.json()["invoice"]["totals"]["total"]) == (201, "3600.00")
    status, body = _credit(service, "3600.01")
    assert (status, body["code"]) == (422, "credit_note_exceeds_limit")
    assert body["message"] == ("credit notes (issued and awaiting approval) would total"
                               " 100.01% of the invoice; the terms allow 100%")
