"""Credit notes and voids follow the invoice's own payment terms.

The stand-in terms (api_fakes): credit notes until order date + 30 days, at most 100 %
cumulative, approval needed above 50 %; void until order date + 7 days. The invoice is
3 x 10.00 + 20 % VAT = 36.00, dated 2026-03-15.
"""

from __future__ import annotations

import datetime as dt

from api_fakes import order
from conftest import Service

NUMBER = "T-2026-00001"


def _issue(s: Service) -> None:
    r = s.client.post("/v1/invoices", json={"order": order()}, headers=s.auth("billing"))
    assert r.status_code == 201, r.text


def _credit(s: Service, amount: str, approved: bool = False) -> tuple[int, dict]:
    r = s.client.post(f"/v1/invoices/{NUMBER}/credit-notes",
                      json={"amount": amount, "reason": "goodwill", "approved": approved},
                      headers=s.auth("billing"))
    return r.status_code, r.json()


def test_credit_notes_cumulative_limit_and_approval(service: Service) -> None:
    _issue(service)
    # 18.00 of 36.00 = 50 %: not above the approval threshold
    status, body = _credit(service, "18.00")
    assert status == 201, body
    assert body["number"] == "CN-T-000001" and body["amount"] == "18.00"
    # 18.00 + 0.01 = 50.03 % cumulative: above 50 %, needs approval
    status, body = _credit(service, "0.01")
    assert (status, body["code"]) == (422, "credit_note_needs_approval")
    status, body = _credit(service, "18.00", approved=True)
    assert status == 201 and body["number"] == "CN-T-000002"
    # 36.00 credited: 100 %; one cent more exceeds the limit
    status, body = _credit(service, "0.01", approved=True)
    assert (status, body["code"]) == (422, "credit_note_exceeds_limit")
    got = service.client.get(f"/v1/invoices/{NUMBER}", headers=service.auth("billing")).json()
    assert [n["amount"] for n in got["credit_notes"]] == ["18.00", "18.00"]
    assert got["status"] == "credited"
    # an invoice with credit notes cannot be voided
    r = service.client.post(f"/v1/invoices/{NUMBER}/void", json={},
                            headers=service.auth("billing"))
    assert (r.status_code, r.json()["code"]) == (409, "invoice_has_credit_notes")


def test_credit_note_window_and_amount_precision(service: Service) -> None:
    _issue(service)
    status, body = _credit(service, "1.001")
    assert (status, body["code"]) == (422, "invalid_amount")
    status, body = _credit(service, "0")
    assert (status, body["code"]) == (422, "invalid_amount")
    service.clock.now = dt.datetime(2026, 4, 14, 23, 59, tzinfo=dt.UTC)  # until 2026-04-14
    assert _credit(service, "1.00")[0] == 201
    service.clock.now = dt.datetime(2026, 4, 15, 0, 1, tzinfo=dt.UTC)
    status, body = _credit(service, "1.00")
    assert (status, body["code"]) == (422, "credit_note_window_closed")


def test_void_window_once_and_audit(service: Service) -> None:
    _issue(service)
    service.clock.now = dt.datetime(2026, 3, 23, 12, 0, tzinfo=dt.UTC)  # after 2026-03-22
    r = service.client.post(f"/v1/invoices/{NUMBER}/void", json={"reason": "late"},
                            headers=service.auth("billing"))
    assert (r.status_code, r.json()["code"]) == (422, "void_window_closed")
    service.clock.now = dt.datetime(2026, 3, 22, 12, 0, tzinfo=dt.UTC)
    r = service.client.post(f"/v1/invoices/{NUMBER}/void", json={"reason": "duplicate"},
                            headers=service.auth("billing"))
    assert r.status_code == 200 and r.json()["status"] == "voided"
    r = service.client.post(f"/v1/invoices/{NUMBER}/void", json={},
                            headers=service.auth("billing"))
    assert (r.status_code, r.json()["code"]) == (409, "already_voided")
    status, body = _credit(service, "1.00")
    assert (status, body["code"]) == (409, "invoice_voided")
    voided = service.client.get("/v1/invoices", params={"status": "voided"},
                                headers=service.auth("billing")).json()
    assert [i["number"] for i in voided["items"]] == [NUMBER]
    log = service.client.get("/v1/audit", headers=service.auth("auditor")).json()["items"]
    actions = [e["action"] for e in log]
    assert actions[-2:] == ["issue", "void"]
    assert log[-1]["reason"] == "duplicate" and log[-1]["subject"] == NUMBER
    assert log[-1]["before_digest"] != log[-1]["after_digest"]


def test_stored_invoices_and_audit_refuse_update_and_delete(service: Service) -> None:
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    _issue(service)
    for sql in ("UPDATE invoice SET total = '0.00'", "DELETE FROM invoice",
                "UPDATE audit_entry SET actor = 'x'", "DELETE FROM audit_entry"):
        with pytest.raises(DBAPIError, match="append_only"), service.svc.db.write() as s:
            s.execute(text(sql))
