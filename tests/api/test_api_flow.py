"""Evaluate, issue, read and list invoices over HTTP; errors in the one envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_fakes import order
from api_service import Service

ISSUE = "/v1/invoices"


def test_evaluate_returns_a_draft_and_stores_nothing(service: Service) -> None:
    r = service.client.post("/v1/invoices/evaluate", json={"order": order()},
                            headers=service.auth("billing"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["revision"] == "dir:fake"
    assert body["blocked"] is False
    # 3 x 10.00 = 30.00, VAT 20 % = 6.00
    assert body["invoice"]["totals"] == {"net": "30.00", "tax": "6.00", "total": "36.00"}
    listing = service.client.get(ISSUE, headers=service.auth("billing")).json()
    assert listing["items"] == []


def test_issue_numbers_per_series_and_reads_back(service: Service) -> None:
    numbers = []
    for n in range(1, 4):
        r = service.client.post(ISSUE, json={"order": order(n)}, headers=service.auth("billing"))
        assert r.status_code == 201, r.text
        numbers.append(r.json()["number"])
    assert numbers == ["T-2026-00001", "T-2026-00002", "T-2026-00003"]
    got = service.client.get(f"{ISSUE}/T-2026-00002", headers=service.auth("auditor")).json()
    assert got["invoice"]["order_id"] == "ORD-2"
    assert got["status"] == "issued"
    assert got["revision"] == "dir:fake"
    assert got["issued_at"] == "2026-03-16T09:00:00Z"


def test_blocked_invoice_is_refused_with_its_violations(service: Service) -> None:
    o = order()
    o["customer"]["type"] = "business"
    r = service.client.post(ISSUE, json={"order": o}, headers=service.auth("billing"))
    assert r.status_code == 422
    assert r.json()["code"] == "invoice_blocked"
    assert r.json()["details"] == [{"loc": ["body", "order"], "type": "missing_vat_id",
                                    "message": "needs a VAT ID", "rule": "vat-id"}]
    assert service.client.get(ISSUE, headers=service.auth("billing")).json()["items"] == []


def test_list_filters_and_cursor(service: Service) -> None:
    import datetime as dt

    h = service.auth("billing")
    for n, customer, day in ((1, "C-1", 10), (2, "C-2", 11), (3, "C-1", 12)):
        service.clock.now = dt.datetime(2026, 3, day, 23, 30, tzinfo=dt.UTC)
        r = service.client.post(ISSUE, json={"order": order(n, customer, "2026-02-28")},
                                headers=h)
        assert r.status_code == 201, r.text
    by_customer = service.client.get(ISSUE, params={"customer": "C-1"}, headers=h).json()
    assert [i["order_id"] for i in by_customer["items"]] == ["ORD-1", "ORD-3"]
    # the date range is the issue date's (the orders all date from February)
    by_date = service.client.get(ISSUE, params={"date_from": "2026-03-11",
                                                "date_to": "2026-03-12"}, headers=h).json()
    assert [(i["order_id"], i["issue_date"], i["order_date"]) for i in by_date["items"]] == [
        ("ORD-2", "2026-03-11", "2026-02-28"), ("ORD-3", "2026-03-12", "2026-02-28")]
    none = service.client.get(ISSUE, params={"date_to": "2026-03-09"}, headers=h).json()
    assert none["items"] == []
    page1 = service.client.get(ISSUE, params={"limit": 2}, headers=h).json()
    assert [i["order_id"] for i in page1["items"]] == ["ORD-1", "ORD-2"]
    page2 = service.client.get(ISSUE, params={"limit": 2, "cursor": page1["next_cursor"]},
                               headers=h).json()
    assert [i["order_id"] for i in page2["items"]] == ["ORD-3"]
    assert page2["next_cursor"] is None
    by_rev = service.client.get(ISSUE, params={"revision": "abcdef0"}, headers=h).json()
    assert by_rev["items"] == []
    issued = service.client.get(ISSUE, params={"status": "issued"}, headers=h).json()
    assert [i["status"] for i in issued["items"]] == ["issued"] * 3


def test_the_date_range_reaches_the_calendar_s_first_and_last_days(
        sqlite_service: Service) -> None:
    s = sqlite_service
    h = s.auth("billing")
    assert s.client.post(ISSUE, json={"order": order()}, headers=h).status_code == 201
    for params, found in (({"date_to": "9999-12-31"}, 1), ({"date_from": "0001-01-01"}, 1),
                          ({"date_from": "9999-12-31"}, 0), ({"date_to": "0001-01-01"}, 0),
                          ({"date_from": "0001-01-01", "date_to": "9999-12-31"}, 1)):
        r = s.client.get(ISSUE, params=params, headers=h)
        assert r.status_code == 200, (params, r.text)
        assert len(r.json()["items"]) == found, params


def test_a_date_range_that_ends_before_it_starts_is_refused(sqlite_service: Service) -> None:
    """Swapped bounds listed nothing, which reads as no invoices in the range."""
    s = sqlite_service
    h = s.auth("billing")
    assert s.client.post(ISSUE, json={"order": order()}, headers=h).status_code == 201
    r = s.client.get(ISSUE, params={"date_from": "2026-03-17", "date_to": "2026-03-15"},
                     headers=h)
    assert r.status_code == 422, r.text
    assert r.json() == {"code": "invalid_request", "message": "date_to is before date_from",
                        "details": [{"loc": ["query", "date_to"], "type": "before_date_from",
                                     "message": "must not be before date_from"}]}
    one_day = s.client.get(ISSUE, params={"date_from": "2026-03-16", "date_to": "2026-03-16"},
                           headers=h)
    assert len(one_day.json()["items"]) == 1


def test_a_cursor_past_the_last_id_is_an_empty_page(service: Service) -> None:
    h = service.auth("admin")
    assert service.client.post(ISSUE, json={"order": order()}, headers=h).status_code == 201
    # 18 digits are a valid cursor; PostgreSQL's ids have 32 bits
    for path in (ISSUE, "/v1/audit"):
        for cursor, found in (("9" * 18, 0), (str(2**31), 0), (str(2**31 - 1), 0), ("0", 1)):
            r = service.client.get(path, params={"cursor": cursor}, headers=h)
            assert r.status_code == 200, (path, cursor, r.text)
            assert (len(r.json()["items"]) >= 1) == bool(found), (path, cursor)
            assert r.json()["next_cursor"] is None or found


def test_numbers_and_issue_dates_come_from_the_issuing_day(service: Service) -> None:
    import datetime as dt

    h = service.auth("billing")
    service.clock.now = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
    late = service.client.post(ISSUE, json={"order": order(1, date="2024-01-15")}, headers=h)
    assert late.status_code == 201, late.text
    body = late.json()
    assert (body["number"], body["issue_date"], body["invoice"]["date"]) == (
        "T-2026-00001", "2026-12-02", "2024-01-15")
    # one day ahead is tolerated (time zones); further ahead is not supplied yet
    ahead = service.client.post(ISSUE, json={"order": order(2, date="2026-12-03")}, headers=h)
    assert ahead.status_code == 201 and ahead.json()["number"] == "T-2026-00002"
    future = service.client.post(ISSUE, json={"order": order(3, date="2030-01-01")}, headers=h)
    assert future.status_code == 422
    assert future.json()["code"] == "order_date_in_future"
    assert future.json()["details"] == [{"loc": ["body", "order", "date"], "type": "in_future",
                                         "message": "is too far after the issue date"}]
    service.clock.now = dt.datetime(2027, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
    new_year = service.client.post(ISSUE, json={"order": order(4, date="2026-12-31")},
                                   headers=h)
    assert new_year.json()["number"] == "T-2027-00003"


def test_auditors_read_the_order_an_invoice_came_from(service: Service) -> None:
    o = order(5)
    o["customer"]["name"] = "Ada Lovelace"
    number = service.client.post(ISSUE, json={"order": o},
                                 headers=service.auth("billing")).json()["number"]
    got = service.client.get(f"{ISSUE}/{number}", headers=service.auth("billing"))
    assert "Ada Lovelace" not in got.text  # the invoice document carries no customer name
    r = service.client.get(f"{ISSUE}/{number}/order", headers=service.auth("auditor"))
    assert r.status_code == 200 and r.json() == {"invoice": number, "order": o}
    assert service.client.get(f"{ISSUE}/{number}/order",
                              headers=service.auth("billing")).status_code == 403


def test_invalid_order_is_an_envelope_without_customer_data(sqlite_service: Service) -> None:
    o = order()
    del o["lines"]
    o["customer"]["name"] = "Jane Secret-Customer"
    r = sqlite_service.client.post("/v1/invoices/evaluate", json={"order": o},
                                   headers=sqlite_service.auth("billing"))
    assert r.status_code == 422
    body = r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == "invalid_order"
    assert "Secret-Customer" not in r.text
    bad = sqlite_service.client.post("/v1/invoices/evaluate", json={"order": "Jane Secret"},
                                     headers=sqlite_service.auth("billing"))
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    assert "Jane" not in bad.text


def test_body_size_and_line_count_limits(sqlite_service: Service) -> None:
    s = sqlite_service
    big = order()
    big["lines"] = [{"sku": "A", "quantity": "1", "unit_price": "1.00"}] * 1001
    r = s.client.post("/v1/invoices/evaluate", json={"order": big}, headers=s.auth("billing"))
    assert r.status_code == 422 and r.json()["code"] == "too_many_lines"
    huge = order()
    huge["attributes"] = {"x": "y" * 1_100_000}
    r = s.client.post("/v1/invoices/evaluate", json={"order": huge}, headers=s.auth("billing"))
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_limits_come_from_the_environment(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from api.settings import Settings

    monkeypatch.setenv("BILLPLANE_MAX_BODY_BYTES", "2000")
    monkeypatch.setenv("BILLPLANE_MAX_LINES", "2")
    s = Service(f"sqlite:///{tmp_path / 'l.db'}",
                **{k: v for k, v in vars(Settings.from_env()).items()
                   if k in ("max_body_bytes", "max_lines")})
    try:
        h = s.auth("billing")
        three = order()
        three["lines"] = three["lines"] * 3
        r = s.client.post("/v1/invoices/evaluate", json={"order": three}, headers=h)
        assert (r.status_code, r.json()["code"]) == (422, "too_many_lines")
        padded = order(attributes={"note": "x" * 2000})
        r = s.client.post("/v1/invoices/evaluate", json={"order": padded}, headers=h)
        assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")
        assert s.client.post("/v1/invoices/evaluate", json={"order": order()},
                             headers=h).status_code == 200
    finally:
        s.close()
    monkeypatch.setenv("BILLPLANE_MAX_LINES", "many")
    with pytest.raises(ValueError, match="BILLPLANE_MAX_LINES must be a whole number"):
        Settings.from_env()


def test_unknown_body_fields_are_refused(sqlite_service: Service) -> None:
    s = sqlite_service
    r = s.client.post(ISSUE, json={"order": order(), "asof": "2026-03-01"},
                      headers=s.auth("billing"))
    assert r.status_code == 422
    assert r.json()["details"][0]["loc"] == ["body", "asof"]
    r = s.client.post("/v1/keys", json={"role": "billing", "nmae": "typo"},
                      headers=s.auth("admin"))
    assert r.status_code == 422 and r.json()["details"][0]["loc"] == ["body", "nmae"]


def test_unknown_invoice_and_route(sqlite_service: Service) -> None:
    s = sqlite_service
    r = s.client.get(f"{ISSUE}/NOPE-1", headers=s.auth("billing"))
    assert r.status_code == 404 and r.json()["code"] == "invoice_not_found"
    r = s.client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_health_ready_metrics_openapi(sqlite_service: Service) -> None:
    c = sqlite_service.client
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz").json()
    assert ready["status"] == "ready" and ready["active_revision"] == "dir:fake"
    c.post("/v1/invoices/evaluate", json={"order": order()}, headers=sqlite_service.auth("billing"))
    text = c.get("/metrics").text
    assert 'billplane_evaluations_total{outcome="ok"} 1.0' in text
    assert 'billplane_policy_active_info{digest=' in text
    assert 'route="/v1/invoices/evaluate"' in text
    spec = c.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert "/v1/invoices/{number}/credit-notes" in spec["paths"]
    assert c.get("/docs").status_code == 200


def test_every_operation_documents_its_422_as_the_envelope(sqlite_service: Service) -> None:
    """Any operation refuses an unknown query parameter (a 422 in the envelope); three
    documented FastAPI's `{"detail": ...}` body instead, and the others without parameters
    no 422 at all."""
    c = sqlite_service.client
    spec = c.get("/openapi.json").json()
    envelope = {"$ref": "#/components/schemas/ErrorBody"}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            schema = op["responses"]["422"]["content"]["application/json"]["schema"]
            assert schema == envelope, (method, path)
    assert "ValidationError" not in json.dumps(spec)
    r = c.get("/v1/keys?expand=1", headers=sqlite_service.auth("admin"))
    assert (r.status_code, set(r.json())) == (422, {"code", "message", "details"})


def test_unknown_or_repeated_query_parameters_are_refused(sqlite_service: Service) -> None:
    auth = sqlite_service.auth("auditor")
    typo = sqlite_service.client.get(f"{ISSUE}?custmer=C-1", headers=auth)
    assert typo.status_code == 422
    assert typo.json()["details"] == [{"loc": ["query", "custmer"], "type": "unknown",
                                       "message": "is not a parameter of this operation"}]
    twice = sqlite_service.client.get("/v1/audit?action=issue&action=void", headers=auth)
    assert twice.status_code == 422
    assert twice.json()["code"] == "invalid_request"
    assert twice.json()["details"] == [{"loc": ["query", "action"], "type": "repeated",
                                        "message": "takes one value, given more than once"}]
    once = sqlite_service.client.get("/v1/audit?action=issue", headers=auth)
    assert once.status_code == 200, once.text


def test_each_issue_is_audited_with_a_digest_of_what_was_issued(service: Service) -> None:
    import hashlib

    bodies = [service.client.post(ISSUE, json={"order": order(1)},
                                  headers=service.auth("billing")).content for _ in range(3)]
    log = service.client.get("/v1/audit", params={"action": "issue"},
                             headers=service.auth("auditor")).json()["items"]
    # the same order three times: three numbers, so three different digests, each the
    # sha256 of the invoice resource as issued (number, issue time, revision, document)
    assert [e["after_digest"] for e in log] == [hashlib.sha256(b).hexdigest() for b in bodies]
    assert len({e["after_digest"] for e in log}) == 3


def test_metrics_label_only_the_http_methods_the_api_knows(sqlite_service: Service) -> None:
    """A method is any token a client sends (an HTTP/1.1 parser such as h11 takes them all):
    one series per invented method would let anyone grow the metrics without bound."""
    c = sqlite_service.client
    for i in range(3):
        assert c.request(f"X-INVENTED-{i}", "/healthz").status_code == 405
    assert c.request("PURGE", "/nothing").status_code == 404
    text = c.get("/metrics").text
    assert "INVENTED" not in text and "PURGE" not in text
    assert 'billplane_http_requests_total{method="other",route="/healthz",status="405"} 3.0' in text
    assert c.head("/healthz").status_code == 200
    assert 'method="HEAD",route="/healthz"' in c.get("/metrics").text
