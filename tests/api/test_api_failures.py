"""Failures stay inside the envelope: unstorable text is a 422 with its location, anything
unexpected is a 500 and one log line, and neither a log nor a body carries customer data."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from api_fakes import FakeEngine, order
from api_service import Service
from served import Served

ISSUE = "/v1/invoices"
POLICIES = Path(__file__).resolve().parents[2] / "policies"
UK_CONSUMER = Path(__file__).resolve().parents[2] / "examples" / "uk-consumer.json"


def test_nul_and_lone_surrogates_are_refused_with_their_location(service: Service) -> None:
    h = service.auth("billing")
    o = order()
    o["customer"]["id"] = "C-\u0000-1"
    r = service.client.post(ISSUE, json={"order": o}, headers=h)
    assert r.status_code == 422, r.text
    assert r.json() == {"code": "invalid_text",
                        "message": "text must not contain NUL characters or lone surrogates",
                        "details": [{"loc": ["body", "order", "customer", "id"],
                                     "type": "invalid_character",
                                     "message": "contains a NUL character or a lone"
                                                " surrogate"}]}
    # JSON may carry a lone surrogate as an escape; neither store nor response can hold it
    raw = json.dumps({"order": order()}).replace('"C-1"', '"C-\\ud800"')
    r = service.client.post(ISSUE, content=raw,
                            headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["details"][0]["loc"] == ["body", "order", "customer", "id"]
    # ... or as the raw bytes of one (invalid UTF-8 that JSON decoders let through), and a
    # body may come in UTF-16, where the escapes are not byte strings
    for body in (raw.replace("C-\\ud800", "C-\udfff").encode("utf-8", "surrogatepass"),
                 raw.encode("utf-16-le"), raw.encode("utf-16")):
        r = service.client.post(ISSUE, content=body,
                                headers={**h, "Content-Type": "application/json"})
        assert (r.status_code, r.json()["details"][0]["loc"]) == (
            422, ["body", "order", "customer", "id"]), (body[:20], r.text)
    lines = order()
    lines["lines"][0]["sku"] = "A\u0000"
    r = service.client.post("/v1/invoices/evaluate", json={"order": lines}, headers=h)
    assert r.json()["details"][0]["loc"] == ["body", "order", "lines", 0, "sku"]
    r = service.client.get(ISSUE, params={"customer": "C\u0000"}, headers=h)
    assert (r.status_code, r.json()["details"][0]["loc"]) == (422, ["query", "customer"])
    r = service.client.get(f"{ISSUE}/T%00", headers=h)
    assert (r.status_code, r.json()["details"][0]["loc"]) == (422, ["path", "number"])
    # a surrogate pair is a real character and is accepted
    fine = order()
    fine["customer"]["name"] = "\U0001F600"
    assert service.client.post(ISSUE, json={"order": fine}, headers=h).status_code == 201
    assert len(service.client.get(ISSUE, headers=h).json()["items"]) == 1



def test_a_body_that_would_be_misread_is_a_415_naming_the_header(
        sqlite_service: Service) -> None:
    import gzip

    s = sqlite_service
    h = s.auth("billing")
    body = json.dumps({"order": order()}).encode()
    encodings = {"header": ["header", "content-encoding"], "code":
                 "unsupported_content_encoding"}
    types = {"header": ["header", "content-type"], "code": "unsupported_media_type"}
    for headers, sent, want in (
            # compressed: read as sent it is no JSON, and the size limit saw it compressed
            ({"Content-Type": "application/json", "Content-Encoding": "gzip"},
             gzip.compress(body), encodings),
            # said to be compressed but sent plain: not read as if the header were not there
            ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, body,
             encodings),
            ({"Content-Type": "application/json", "Content-Encoding": "br"}, body, encodings),
            # JSON sent as a form (curl -d without a Content-Type) or as text
            ({"Content-Type": "application/x-www-form-urlencoded"}, body, types),
            ({"Content-Type": "text/plain"}, body, types),
            ({}, body, types)):
        for path in (ISSUE, "/v1/invoices/evaluate"):
            r = s.client.post(path, content=sent, headers={**h, **headers})
            assert (r.status_code, r.json()["code"]) == (415, want["code"]), (headers, r.text)
            assert [d["loc"] for d in r.json()["details"]] == [want["header"]]
    # the media types the framework reads as JSON, and no coding, are read as ever
    for headers in ({"Content-Type": "application/json; charset=utf-8"},
                    {"Content-Type": "application/merge-patch+json"},
                    {"Content-Type": "application/json", "Content-Encoding": "identity"}):
        r = s.client.post("/v1/invoices/evaluate", content=body, headers={**h, **headers})
        assert r.status_code == 200, (headers, r.text)
    # no body at all: the schema says what is missing
    r = s.client.post(ISSUE, headers=h)
    assert (r.status_code, r.json()["details"][0]["loc"]) == (422, ["body"])
    assert s.client.get(ISSUE, headers=h).json()["items"] == []
    doc = s.client.get("/openapi.json").json()
    assert "415" in doc["paths"]["/v1/invoices"]["post"]["responses"]


@pytest.mark.parametrize(("content_type", "named"), [
    ("application/json; charset=latin-1", "latin-1"),
    ("application/json; charset=ISO-8859-1", "iso-8859-1"),
    ('application/json; charset="utf-16"', "utf-16"),
    ("application/json;charset=UTF-16LE", "utf-16le"),
    ("application/merge-patch+json; charset=windows-1252", "windows-1252"),
    ("application/json; charset=", "<charset>"),
    ("application/json; charset=\"a b\"", "<charset>"),
    ("application/json; charset=utf-8; charset=latin-1", "latin-1"),
])
def test_a_body_declared_in_a_charset_other_than_utf_8_is_a_415_naming_it(
        sqlite_service: Service, content_type: str, named: str) -> None:
    s = sqlite_service
    h = {**s.auth("billing"), "Content-Type": content_type}
    body = json.dumps({"order": order()}).encode()
    for path, extra in ((ISSUE, {"Idempotency-Key": "cs-1"}), ("/v1/invoices/evaluate", {})):
        r = s.client.post(path, content=body, headers={**h, **extra})
        assert r.status_code == 415, (content_type, r.text)
        assert r.json() == {
            "code": "unsupported_media_type",
            "message": f"the request body must be UTF-8 JSON, not charset {named}",
            "details": [{"loc": ["header", "content-type"], "type": "unsupported_charset",
                         "message": f"charset {named} is not supported: JSON is UTF-8"}]}
    assert s.client.get(ISSUE, headers=s.auth("billing")).json()["items"] == []


def test_utf_8_is_accepted_however_it_is_written(sqlite_service: Service) -> None:
    s = sqlite_service
    body = json.dumps({"order": order()}).encode()
    for content_type in ("application/json; charset=utf-8", "application/json; charset=UTF-8",
                         'application/json; charset="Utf-8"', "application/json;charset=utf-8",
                         "application/json; Charset = utf-8 ; foo=bar"):
        r = s.client.post("/v1/invoices/evaluate", content=body,
                          headers={**s.auth("billing"), "Content-Type": content_type})
        assert r.status_code == 200, (content_type, r.text)


def test_a_body_nested_too_deeply_is_a_422_before_anything_walks_it(
        sqlite_service: Service) -> None:
    s = sqlite_service
    h = {**s.auth("billing"), "Content-Type": "application/json"}
    base = json.dumps({"order": order()})

    def nested(depth: int, inner: str = "") -> bytes:
        return (base[:-2] + ', "attributes": {"a": ' + "[" * depth + inner + "]" * depth
                + "}}}").encode()

    # more than 64 levels are refused where they get too deep; about 950 levels took the
    # request's fingerprint (an Idempotency-Key) past the recursion limit, a 500; and what
    # is too deep to parse at all (from about as deep: it depends on the stack) says so
    deep = ["body", "order", "attributes", "a", *[0] * 62]
    for depth, locs in ((63, [deep]), (700, [deep]), (960, [deep, ["body"]]),
                        (5000, [["body"]])):
        for path, extra in ((ISSUE, {"Idempotency-Key": f"deep-{depth}"}),
                            ("/v1/invoices/evaluate", {})):
            r = s.client.post(path, content=nested(depth), headers={**h, **extra})
            assert (r.status_code, r.json()["code"]) == (422, "invalid_request"), r.text
            [found] = r.json()["details"]
            assert found["loc"] in locs and found["type"] == "too_deep", (depth, r.text)
            assert found["message"] == "nests more than 64 levels"
    # a body the endpoint reads itself, with text that is checked for NUL characters
    r = s.client.post("/v1/policy/webhook", content=nested(700, '"\\u0000"'),
                      headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["details"][0]["type"]) == (422, "too_deep"), r.text
    r = s.client.post("/v1/policy/webhook", content=nested(960, '"\\u0000"'),
                      headers={"Content-Type": "application/json"})
    assert r.status_code < 500 and set(r.json()) == {"code", "message", "details"}, r.text
    # 64 levels are within the limit: the engine judges them
    r = s.client.post("/v1/invoices/evaluate", content=nested(62), headers=h)
    assert r.status_code == 200, r.text
    assert s.client.get(ISSUE, headers=h).json()["items"] == []

class OneNumberEngine(FakeEngine):
    """Numbers every invoice alike: the second issue fails in the database."""

    def format_number(self, spec: dict[str, Any], number: int, date: Any) -> str:
        return "T-SAME"


def test_an_unexpected_error_is_a_500_envelope_and_one_line_without_data(
        database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    s = Service(database_url)
    try:
        app = create_app(s.settings, port=OneNumberEngine())
        client = TestClient(app)  # raises any exception that escapes the app
        o = order()
        o["customer"]["name"] = "Priya Shah"
        assert client.post(ISSUE, json={"order": o}, headers=s.auth("billing")).status_code == 201
        with caplog.at_level(logging.DEBUG):
            # the unique number is refused by the database; its error quotes the row
            r = client.post(ISSUE, json={"order": order(2, customer="Priya Shah")},
                            headers=s.auth("billing"))
        assert r.status_code == 500
        assert r.json()["code"] == "internal_error" and "Priya" not in r.text
        errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
        assert [rec.getMessage() for rec in errors] == [
            "internal error IntegrityError on POST /v1/invoices"]
        assert all(rec.exc_info is None for rec in caplog.records)
        assert not any("Priya" in rec.getMessage() for rec in caplog.records)
        app.state.services.db.dispose()
    finally:
        s.close()


@pytest.mark.slow
def test_a_served_process_logs_no_traceback_and_no_customer_data(tmp_path: Path) -> None:
    import sqlite3

    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    store = tmp_path / "s.db"
    served = Served(["--policies", str(policies), "--database-url", f"sqlite:///{store}"],
                    tmp_path / "serve.log")
    try:
        o = json.loads(UK_CONSUMER.read_text())
        o["date"] = "9999-12-31"  # its payment terms would fall after the last day
        r = served.request("POST", "/v1/invoices/evaluate", json={"order": o},
                           headers=served.admin)
        assert (r.status_code, r.json()["code"]) == (422, "date_out_of_range")
        o = json.loads(UK_CONSUMER.read_text())
        o["customer"]["id"] = "C-\u0000-1"
        r = served.request("POST", ISSUE, json={"order": o}, headers=served.admin)
        assert r.status_code == 422 and r.json()["code"] == "invalid_text"
        # the store loses a table under the running server: the insert of the invoice
        # (order, customer and all as parameters) fails in the database
        with sqlite3.connect(store) as conn:
            conn.execute("DROP TABLE invoice_void")
            conn.execute("DROP TABLE credit_note")
            conn.execute("DROP TABLE credit_request")
            conn.execute("DROP TABLE invoice")
        o = json.loads(UK_CONSUMER.read_text())
        r = served.request("POST", ISSUE, json={"order": o}, headers=served.admin)
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        assert "Priya" not in r.text
    finally:
        logged = served.stop()
    assert "internal error OperationalError on POST /v1/invoices" in logged
    assert "Traceback" not in logged
    assert "Priya" not in logged and "OX1" not in logged


def test_refusals_of_text_and_of_unknown_query_parameters_show_only_plain_names(
        sqlite_service: Service) -> None:
    """A key the client chose (a map's, a query parameter's name) may be a customer's name
    or address: the refusal's `loc` shows it only when it is a plain name, as everywhere."""
    s = sqlite_service
    h = s.auth("billing")
    o = order()
    o["attributes"] = {"Priya Shah, 1 High St": "A\u0000", "plan": {"OX1 2JD": "\ud800"}}
    r = s.client.post("/v1/invoices/evaluate", content=json.dumps({"order": o}),
                      headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_text"
    assert r.json()["details"][0]["loc"] == ["body", "order", "attributes", "<key>"]
    assert "Priya" not in r.text and "High St" not in r.text
    o["attributes"] = {"plan": {"OX1 2JD": "\ud800"}}
    r = s.client.post("/v1/invoices/evaluate", content=json.dumps({"order": o}),
                      headers={**h, "Content-Type": "application/json"})
    assert r.json()["details"][0]["loc"] == ["body", "order", "attributes", "plan", "<key>"]
    r = s.client.get("/v1/invoices", params={"Priya Shah": "1", "custmer": "C-1"}, headers=h)
    assert r.status_code == 422 and "Priya" not in r.text
    assert [d["loc"] for d in r.json()["details"]] == [["query", "<key>"],
                                                       ["query", "custmer"]]
