"""Error bodies name fields, not values: tests/cases/api-errors/*.yaml on the real engine.

A case changes examples/uk-consumer.json (`set`: dotted path -> value, null deletes), sends
it to `evaluate` or `issue`, and expects the status, code, message and every detail's code,
location and message exactly; none of its `secrets` may appear anywhere in the response.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Service, real_service

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
    r = real.client.post(PATHS[case["endpoint"]], json={"order": order},
                         headers=real.auth("billing"))
    want = case["want"]
    assert r.status_code == want["status"], r.text
    body = r.json()
    assert (body["code"], body["message"]) == (want["code"], want["message"])
    got = [{k: d[k] for k in ("code", "file", "message")} for d in body["details"]]
    assert got == want["details"]
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
])
def test_messages_keep_only_schema_and_policy_text(code: str, where: str, message: str,
                                                   safe: str) -> None:
    from api.redact import safe_message
    from engine.errors import Diagnostic, Location

    assert safe_message(Diagnostic(code, message, Location(where))) == safe
