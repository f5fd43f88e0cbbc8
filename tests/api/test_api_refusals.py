"""Every refusal says where: its details name the header, path parameter or body field that
was refused, whether a schema, a policy or the state of the named invoice refused it.

The stand-in terms (api_fakes): credit notes for 30 days up to 100 % with approval above
50 %, void for 7 days; the invoice is 36.00, issued at 2026-03-16 09:00 UTC.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_fakes import order
from api_service import Service

NUMBER = "T-2026-00001"
NOTES = f"/v1/invoices/{NUMBER}/credit-notes"


@pytest.fixture
def s(tmp_path: Path) -> Iterator[Service]:
    service = Service(f"sqlite:///{tmp_path / 'r.db'}", max_lines=2)
    yield service
    service.close()


def _refused(r: Any, status: int, code: str, loc: list[str | int]) -> None:
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert [d["loc"] for d in r.json()["details"]] == [loc], r.text


def test_refusals_name_the_field_or_parameter_refused(s: Service) -> None:
    h = s.auth("billing")
    assert s.client.post("/v1/invoices", json={"order": order()}, headers=h).status_code == 201
    _refused(s.client.get("/v1/invoices"), 401, "unauthorized", ["header", "authorization"])
    _refused(s.client.get("/v1/invoices", headers={"Authorization": "Bearer bpk_x_y"}), 401,
             "unauthorized", ["header", "authorization"])
    _refused(s.client.get("/v1/invoices/T-NONE", headers=h), 404, "invoice_not_found",
             ["path", "number"])
    _refused(s.client.get("/v1/invoices/T-NONE/order", headers=s.auth("auditor")), 404,
             "invoice_not_found", ["path", "number"])
    _refused(s.client.get("/v1/credit-notes/CN-NONE", headers=h), 404, "not_found",
             ["path", "number"])
    _refused(s.client.get("/v1/credit-note-requests/7", headers=h), 404, "not_found",
             ["path", "request_id"])
    _refused(s.client.delete("/v1/keys/nokey", params={"reason": "left"},
                             headers=s.auth("admin")), 404, "key_not_found", ["path", "prefix"])
    _refused(s.client.post("/v1/invoices", json={"order": order(2)},
                           headers={**h, "Idempotency-Key": "a\tb"}), 422,
             "invalid_idempotency_key", ["header", "idempotency-key"])
    three = order(3)
    three["lines"] *= 3
    _refused(s.client.post("/v1/invoices/evaluate", json={"order": three}, headers=h), 422,
             "too_many_lines", ["body", "order", "lines"])
    _refused(s.client.post("/v1/invoices/evaluate", json={"order": order(), "ref": "main"},
                           headers=h), 422, "ref_not_allowed", ["body", "ref"])
    _refused(s.client.post("/v1/policy/activate", json={"revision": "no-such-ref"},
                           headers=s.auth("admin")), 409, "revision_mismatch",
             ["body", "revision"])
    for amount in ("0", "1.001"):
        _refused(s.client.post(NOTES, json={"amount": amount, "reason": "x"}, headers=h), 422,
                 "invalid_amount", ["body", "amount"])
    _refused(s.client.post(NOTES, json={"amount": "36.01", "reason": "x"}, headers=h), 422,
             "credit_note_exceeds_limit", ["body", "amount"])
    # a request above the approval threshold: not decided by its requester, by a role that
    # may not approve, or twice
    r = s.client.post(NOTES, json={"amount": "30.00", "reason": "x"}, headers=s.auth("admin"))
    assert r.status_code == 202, r.text
    approve = f"/v1/credit-note-requests/{r.json()['id']}/approve"
    _refused(s.client.post(approve, json={"reason": "x"}, headers=s.auth("admin")), 403,
             "forbidden", ["path", "request_id"])
    _refused(s.client.post(approve, json={"reason": "x"}, headers=h), 403, "forbidden",
             ["header", "authorization"])
    assert s.client.post(approve, json={"reason": "x"},
                         headers=s.auth("approver")).status_code == 201
    _refused(s.client.post(approve, json={"reason": "x"}, headers=s.auth("approver")), 409,
             "already_decided", ["path", "request_id"])
    _refused(s.client.post(f"/v1/invoices/{NUMBER}/void", json={"reason": "x"}, headers=h),
             409, "invoice_has_credit_notes", ["path", "number"])
    keyed = {**h, "Idempotency-Key": "ord-5"}
    assert s.client.post("/v1/invoices", json={"order": order(5)}, headers=keyed).status_code == 201
    _refused(s.client.post("/v1/invoices", json={"order": order(6)}, headers=keyed), 409,
             "idempotency_conflict", ["header", "idempotency-key"])
    admin = s.keys["admin"].split("_")[1]
    _refused(s.client.delete(f"/v1/keys/{admin}", params={"reason": "left"},
                             headers=s.auth("admin")), 409, "last_admin_key", ["path", "prefix"])


def test_refusals_by_an_invoice_s_state_name_the_invoice(s: Service) -> None:
    h = s.auth("billing")
    assert s.client.post("/v1/invoices", json={"order": order()}, headers=h).status_code == 201
    void = f"/v1/invoices/{NUMBER}/void"
    assert s.client.post(void, json={"reason": "x"}, headers=h).status_code == 200
    _refused(s.client.post(void, json={"reason": "x"}, headers=h), 409, "already_voided",
             ["path", "number"])
    _refused(s.client.post(NOTES, json={"amount": "1.00", "reason": "x"}, headers=h), 409,
             "invoice_voided", ["path", "number"])
    assert s.client.post("/v1/invoices", json={"order": order(2)}, headers=h).status_code == 201
    s.clock.now = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
    _refused(s.client.post("/v1/invoices/T-2026-00002/void", json={"reason": "x"}, headers=h),
             422, "void_window_closed", ["path", "number"])
    _refused(s.client.post("/v1/invoices/T-2026-00002/credit-notes",
                           json={"amount": "1.00", "reason": "x"}, headers=h), 422,
             "credit_note_window_closed", ["path", "number"])


def test_refusals_before_any_operation_name_the_path_method_or_body(tmp_path: Path) -> None:
    """No route, no such method, a body too large (declared, or found while reading), a
    webhook without its secret: each says where too."""
    small = Service(f"sqlite:///{tmp_path / 'b.db'}", max_body_bytes=2000)
    try:
        h = small.auth("billing")
        c = small.client
        _refused(c.get("/v1/nothing-here", headers=h), 404, "not_found", ["path"])
        _refused(c.get("/docs/assets/nothing.js"), 404, "not_found", ["path"])
        padded = order(attributes={"note": "x" * 2000})
        declared = c.post("/v1/invoices/evaluate", json={"order": padded}, headers=h)

        def chunks() -> Iterator[bytes]:
            yield json.dumps({"order": padded}).encode()

        streamed = c.post("/v1/invoices/evaluate", content=chunks(),
                          headers={**h, "Content-Type": "application/json"})
        assert "content-length" not in streamed.request.headers
        for r in (declared, streamed):
            _refused(r, 413, "payload_too_large", ["body"])
            assert r.json() == {
                "code": "payload_too_large",
                "message": "the request body is larger than 2000 bytes",
                "details": [{"loc": ["body"], "type": "too_large",
                             "message": "is larger than 2000 bytes"}]}
        _refused(c.post("/v1/policy/webhook", json={}), 404, "webhook_disabled", ["path"])
    finally:
        small.close()


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("DELETE", "/v1/invoices", "GET, HEAD, POST"),
    ("PUT", "/v1/invoices/evaluate", "POST"),
    ("GET", "/v1/invoices/T-1/void", "POST"),
    ("HEAD", "/v1/invoices/T-1/void", "POST"),
    ("POST", "/v1/keys/abc", "DELETE"),
    ("POST", "/healthz", "GET, HEAD"),
    ("PUT", "/readyz", "GET, HEAD"),
    ("POST", "/redoc", "GET, HEAD"),
    ("DELETE", "/docs/assets/swagger-ui.css", "GET, HEAD"),
])
def test_a_method_the_path_does_not_take_is_a_405_naming_those_it_takes(
        s: Service, method: str, path: str, allow: str) -> None:
    """The Allow header lists them (RFC 9110 15.5.6); it was empty for every API path."""
    r = s.client.request(method, path, headers=s.auth("admin"))
    assert (r.status_code, r.headers["allow"]) == (405, allow)
    if method != "HEAD":
        assert r.json() == {"code": "method_not_allowed", "message": "method not allowed",
                            "details": [{"loc": ["method"], "type": "not_allowed",
                                         "message": f"this path takes {allow}"}]}


@pytest.mark.parametrize(("method", "path", "header"), [
    ("POST", "/v1/invoices", "idempotency-key"),
    ("GET", "/v1/invoices", "authorization"),
    ("POST", "/v1/invoices/evaluate", "content-type"),
    ("POST", "/v1/policy/webhook", "x-hub-signature-256"),
])
def test_a_one_value_header_given_twice_is_refused_naming_it(
        s: Service, method: str, path: str, header: str) -> None:
    """Which of two Idempotency-Keys was read depended on the order they came in: a retry
    sending them the other way round issued the order again."""
    token = s.keys["billing"]
    sent = {"authorization": f"Bearer {token}", "idempotency-key": "ord-1",
            "content-type": "application/json", "x-hub-signature-256": "sha256=00"}
    second = {"authorization": f"Bearer {token}", "idempotency-key": "ord-2",
              "content-type": "application/json", "x-hub-signature-256": "sha256=01"}
    headers = [*sent.items(), (header, second[header])]
    body = json.dumps({"order": order()}).encode() if method == "POST" else None
    r = s.client.request(method, path, content=body, headers=headers)
    _refused(r, 422, "invalid_request", ["header", header])
    assert r.json()["details"][0] == {"loc": ["header", header], "type": "repeated",
                                      "message": "takes one value, given more than once"}
    listed = s.client.get("/v1/invoices", headers=s.auth("billing"))
    assert listed.json()["items"] == []


@pytest.mark.parametrize(("role", "path", "body", "known"), [
    ("admin", "/v1/keys", {"role": "billing", "Priya Shah": "x"}, "name, role"),
    ("admin", "/v1/policy/activate", {"revision": "main", "Priya Shah": "x"},
     "reason, revision"),
    ("billing", f"{NOTES}", {"amount": "1.00", "reason": "r", "Priya Shah": "x"},
     "amount, reason"),
])
def test_an_unknown_body_field_is_shown_only_as_a_plain_name_with_the_known_ones(
        s: Service, role: str, path: str, body: dict[str, Any], known: str) -> None:
    r = s.client.post(path, json={**body, "reasn": "x"}, headers=s.auth(role))
    assert r.status_code == 422, r.text
    message = f"is not a field of the request body (known: {known})"
    assert r.json()["details"] == [
        {"loc": ["body", "<key>"], "type": "extra_forbidden", "message": message},
        {"loc": ["body", "reasn"], "type": "extra_forbidden", "message": message}]
    assert "Priya" not in r.text
