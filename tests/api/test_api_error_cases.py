"""Error bodies name fields, not values: tests/cases/api-errors/*.yaml on the real engine.

A case changes examples/uk-consumer.json (`set`: dotted path -> value, null deletes), sends
it to `evaluate` or `issue` (with the body's other fields `body`, if any), and expects the
status, code, message and every detail exactly (`{loc, type, message}`, and `line`/`column`
only where there is a real position); none of its `secrets` may appear anywhere in the
response.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_service import Service, real_service

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases" / "api-errors"
BASE = json.loads((ROOT / "examples" / "uk-consumer.json").read_text())
PATHS = {"evaluate": "/v1/invoices/evaluate", "issue": "/v1/invoices"}


def _cases() -> list[Any]:
    return [pytest.param(yaml.safe_load(p.read_text()), id=p.stem)
            for p in sorted(CASES.glob("*.yaml"))]


def _apply(order: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(order)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if value is None:
            del node[key]
        else:
            node[key] = value
    return out


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("api-errors")
    s = real_service(f"sqlite:///{tmp / 'e.db'}", tmp)
    yield s
    s.close()


def test_cases_exist() -> None:
    assert len(_cases()) >= 8


@pytest.mark.parametrize("case", _cases())
def test_error_case(case: dict[str, Any], real: Service) -> None:
    assert case.get("want"), "a case needs an expectation"
    order = _apply(BASE, case["set"])
    r = real.client.post(PATHS[case["endpoint"]], json={"order": order, **case.get("body", {})},
                         headers=real.auth("billing"))
    want = case["want"]
    assert r.status_code == want["status"], r.text
    body = r.json()
    assert (body["code"], body["message"]) == (want["code"], want["message"])
    assert body["details"] == want["details"]
    for secret in case.get("secrets", []):
        assert secret not in r.text


@pytest.mark.parametrize(("code", "where", "message", "safe"), [
    # a value crafted to look like schema text: only the rightmost, schema-made tail is kept
    ("invalid_order", "order.customer.name", "\"a is not of type 'Priya'\" is not of type"
     " 'object'", "is not of type 'object'"),
    ("invalid_order", "order.customer", "{'name': 'Priya'} is not valid in a new way",
     "is not valid"),
    ("invalid_order", "order", "'Priya' is a required property, says 'Priya'", "is not valid"),
    ("cel_eval_error", "pricing/rules.yaml", "spec.when `customer.name == 1` failed: no such"
     " overload for 'Priya'", "spec.when `customer.name == 1` failed"),
    ("no_tax_rate", "tax/uk.yaml", "tax rule uk-vat has no rate in effect on 2030-01-01",
     "tax rule uk-vat has no rate in effect on 2030-01-01"),
    # a seller's and currencies' codes are policy and schema words ...
    ("unsupported_currency", "order.currency", "seller northwind-uk invoices in GBP, USD,"
     " not EUR", "seller northwind-uk invoices in GBP, USD, not EUR"),
    # ... anything else in that message is not shown, the problem still named
    ("unsupported_currency", "order.currency", "seller Priya Shah invoices in GBP, not EUR",
     "the seller does not invoice in this currency"),
    ("unsupported_currency", "order.currency", "seller acme invoices in GBP, not 'Priya'",
     "the seller does not invoice in this currency"),
])
def test_messages_keep_only_schema_and_policy_text(code: str, where: str, message: str,
                                                   safe: str) -> None:
    from api.redact import safe_message
    from engine.errors import Diagnostic, Location

    assert safe_message(Diagnostic(code, message, Location(where))) == safe


@pytest.mark.parametrize(("code", "where", "loc"), [
    ("invalid_order", "order.currency", ["body", "order", "currency"]),
    ("negative_quantity", "order.lines[12].quantity", ["body", "order", "lines", 12, "quantity"]),
    ("invalid_order", "order.lines[0].usage[3].period",
     ["body", "order", "lines", 0, "usage", 3, "period"]),
    ("invalid_order", "order", ["body", "order"]),
    # a key the client chose is not repeated unless it is a plain name
    ("invalid_order", "order.attributes.Priya Shah", ["body", "order", "attributes", "<key>"]),
    ("invalid_order", "order.attributes.plan-tier", ["body", "order", "attributes", "plan-tier"]),
    ("invalid_order", "order[x", ["body", "order"]),
    ("invalid_as_of", "", ["body", "as_of"]),
    ("no_tax_rate", "tax/uk.yaml", ["policy", "tax/uk.yaml"]),
    ("dirty_tree", "", []),
])
def test_diagnostic_locations_become_loc_parts(code: str, where: str,
                                               loc: list[str | int]) -> None:
    from api.redact import request_loc
    from engine.errors import Diagnostic, Location

    assert request_loc(Diagnostic(code, "m", Location(where))) == loc


@pytest.mark.parametrize(("line", "column"), [(0, 0), (4, 0), (4, 7)])
def test_a_position_is_in_a_detail_only_when_it_is_real(line: int, column: int) -> None:
    from api.errors import billplane_details
    from engine.errors import BillplaneError, Diagnostic, Location

    [got] = billplane_details(BillplaneError(Diagnostic(
        "no_tax_rate", "no rate", Location("tax/uk.yaml", line, column), rule="uk-vat")))
    want: dict[str, Any] = {"loc": ["policy", "tax/uk.yaml"], "type": "no_tax_rate",
                            "message": "no rate", "rule": "uk-vat"}
    want |= {"line": line} if line else {}
    want |= {"column": column} if line and column else {}
    assert got == want


INVALID_JSON = [
    # (body, line, column, what the JSON reader says)
    pytest.param('{"order": {"id": "EX-1",}}', 1, 25,
                 "Expecting property name enclosed in double quotes", id="trailing-comma"),
    pytest.param('{"order":\n  {"id": "Priya Shah"\n   "date": "2026-03-01"}}', 3, 4,
                 "Expecting ',' delimiter", id="missing-comma-line-3"),
    pytest.param("{", 1, 2, "Expecting property name enclosed in double quotes", id="cut-short"),
    pytest.param('{"order": Priya}', 1, 11, "Expecting value", id="bare-word"),
    pytest.param('\r\n\r\n  {"as_of": 2026-03-01}', 3, 17, "Expecting ',' delimiter",
                 id="crlf-lines"),
    pytest.param('{"order": {}} {}', 1, 15, "Extra data", id="two-documents"),
    # Python's reader takes these by default; RFC 8259 has no such values
    pytest.param('{"order": {"id": "NaN, Infinity",\n  "lines": [NaN]}}', 2, 13,
                 "NaN is not a JSON value (RFC 8259 has no NaN or infinities)", id="nan"),
    pytest.param('{"order": {}, "as_of": Infinity}', 1, 24,
                 "Infinity is not a JSON value (RFC 8259 has no NaN or infinities)",
                 id="infinity"),
    pytest.param('{"order": {"lines": [{"quantity": -Infinity}]}}', 1, 35,
                 "-Infinity is not a JSON value (RFC 8259 has no NaN or infinities)",
                 id="minus-infinity"),
]


@pytest.mark.parametrize(("body", "line", "column", "reason"), INVALID_JSON)
def test_an_invalid_json_body_is_located(body: str, line: int, column: int, reason: str,
                                         real: Service) -> None:
    r = real.client.post(PATHS["evaluate"], content=body.encode(),
                         headers={**real.auth("billing"), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json() == {"code": "invalid_request", "message": "the request body is not valid"
                        " JSON", "details": [{"loc": ["body"], "type": "json_invalid",
                                              "message": reason, "line": line,
                                              "column": column}]}
    assert "Priya" not in r.text


def test_the_openapi_document_gives_details_one_shape(real: Service) -> None:
    doc = real.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["details"]["items"] == {
        "$ref": "#/components/schemas/ErrorDetail"}
    detail = schemas["ErrorDetail"]
    assert detail["required"] == ["loc", "type", "message"]
    assert set(detail["properties"]) == {"loc", "type", "message", "line", "column", "rule"}
    evaluate = doc["paths"]["/v1/invoices/evaluate"]["post"]["responses"]["422"]
    assert evaluate["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"}
