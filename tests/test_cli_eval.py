"""`billplane eval` on the example orders: hand-computed totals, explain, stdin, bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from api.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
POLICIES = str(ROOT / "policies")


def _eval(capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(["eval", *args, "--policies", POLICIES])
    out, err = capsys.readouterr()
    return code, out, err


def test_uk_consumer(capsys: Any) -> None:
    # PERSONAL-PLAN 3 x 12.00 = 36.00 VAT-inclusive: VAT 36 x 20/120 = 6.00, net 30.00;
    # SECURITY-KEY 45.00 + VAT 9.00. Net 75.00, tax 15.00, total 90.00; due on receipt.
    code, out, _ = _eval(capsys, str(EXAMPLES / "uk-consumer.json"))
    assert code == 0
    doc = json.loads(out)
    assert doc["totals"] == {"subtotal": "75.00", "discount": "0.00", "net": "75.00",
                             "tax": "15.00", "total": "90.00"}
    assert [line["tax_total"] for line in doc["lines"]] == ["6.00", "9.00"]
    assert doc["lines"][0]["tax"][0]["inclusive"] is True


def test_eu_b2b_reverse_charge(capsys: Any) -> None:
    # seats 10 x 35.00 + 2 x 29.00 = 408.00; API calls (20000 - 10000) / 1000 x 2.30 = 23.00;
    # German business with a valid VAT ID: reverse charge, no VAT; total 431.00
    code, out, _ = _eval(capsys, str(EXAMPLES / "eu-b2b-reverse-charge.json"))
    assert code == 0
    doc = json.loads(out)
    assert doc["totals"]["total"] == "431.00"
    assert doc["totals"]["tax"] == "0.00"
    assert [t["reverse_charge"] for line in doc["lines"] for t in line["tax"]] == [True, True]
    # the invoice says so and shows the customer's VAT number (Art. 226(11a) and (4))
    assert [(row["reverse_charge"], row["reason"]) for row in doc["tax_summary"]] == [
        (True, "Reverse charge: VAT to be accounted for by the recipient (Article 196 of "
               "Council Directive 2006/112/EC)")]
    assert doc["customer"] == {"id": "C-DE-B2B", "country": "DE", "region": "",
                               "type": "business", "tax_id": "DE136695976"}


def test_us_enterprise_installments(capsys: Any) -> None:
    # 50 annual seats, tier 2: 50 x 320.00 + 640.00 = 16640.00; enterprise 10% = 1664.00
    # -> 14976.00; prepay 5% = 748.80 -> 14227.20; NY 4% = 569.088 -> 569.09;
    # 2 training days 3000.00 untaxed. Net 17227.20, tax 569.09, total 17796.29.
    code, out, _ = _eval(capsys, str(EXAMPLES / "us-enterprise-installments.json"))
    assert code == 0
    doc = json.loads(out)
    assert doc["totals"] == {"subtotal": "19640.00", "discount": "2412.80", "net": "17227.20",
                             "tax": "569.09", "total": "17796.29"}
    # over 12,500.00: 3 instalments, 1779629 cents / 3 = 593209 r 2; the remainder goes to
    # the first instalment (engine/credit.py)
    amounts = [i["amount"] for i in doc["payment"]["installments"]]
    assert amounts == ["5932.11", "5932.09", "5932.09"]
    assert doc["payment"]["due_date"] == "2026-04-30"


def test_output_is_the_canonical_data(capsys: Any) -> None:
    from api.sources import DirectorySource, load_from
    from engine.evaluate import evaluate

    path = EXAMPLES / "uk-consumer.json"
    code, out, _ = _eval(capsys, str(path))
    assert code == 0
    bundle = load_from(DirectorySource(POLICIES))
    invoice = evaluate(bundle, json.loads(path.read_text()))
    assert json.loads(out) == json.loads(invoice.canonical_json())


def test_explain_names_rules_and_places(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, _ = _eval(capsys, str(EXAMPLES / "uk-consumer.json"), "--explain")
    assert code == 0
    # the places open from the working directory (the repository root here)
    assert "uk-vat-consumer-inclusive (policies/tax/uk-vat.yaml:" in out
    assert "lines[0]" in out and "6.00" in out


def test_order_from_stdin(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (EXAMPLES / "eu-b2b-reverse-charge.json").read_text()
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    code, out, _ = _eval(capsys, "-")
    assert code == 0
    assert json.loads(out)["totals"]["total"] == "431.00"


def test_invalid_order_fields_exit_1(capsys: Any, tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "uk-consumer.json").read_text())
    order["lines"][0]["quantity"] = 3.5  # a float, not a decimal string
    del order["customer"]["country"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(order))
    code, out, err = _eval(capsys, str(path))
    assert code == 1 and out == ""
    assert ("order.lines[0].quantity: invalid_order: must be a decimal string with at most 15 "
            'digits before the point and 10 after, e.g. "1.10", not a JSON number') in err
    assert "order.customer.country: invalid_order: is required" in err
    assert "Traceback" not in err


def test_order_with_a_key_given_twice_is_refused(capsys: Any, tmp_path: Path) -> None:
    text = (EXAMPLES / "uk-consumer.json").read_text()
    path = tmp_path / "twice.json"
    path.write_text(text.replace('"id":', '"id": "X", "id":', 1))
    code, out, err = _eval(capsys, str(path))
    assert code == 1 and out == ""
    # at the file's line and column, as a JSON syntax error is; the field after the message
    assert err == (f"{path}:2:14: duplicate_key: key 'id' is given twice in one object "
                   "(order.id)\n")


def test_json_syntax_error_exit_1(capsys: Any, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": "X",\n  "date": }')
    code, _, err = _eval(capsys, str(path))
    assert code == 1
    # at the file's line and column, as an editor opens it (not at `<input>`)
    assert err == f"{path}:2:11: invalid_json: Expecting value\n"


def test_usage_errors_exit_2(capsys: Any, tmp_path: Path) -> None:
    assert _eval(capsys, str(tmp_path / "missing.json"))[0] == 2
    assert _eval(capsys, str(EXAMPLES / "uk-consumer.json"), "--as-of", "2026-02-30")[0] == 2
    code = main(["eval", str(EXAMPLES / "uk-consumer.json"), "--policies",
                 str(tmp_path / "nope")])
    assert code == 2
    assert _eval(capsys, str(EXAMPLES / "uk-consumer.json"), "--ref", "no-such-ref")[0] == 2
    code = main(["eval", str(EXAMPLES / "uk-consumer.json"), "--policies", str(EXAMPLES)])
    assert code == 2 and "no policy files" in capsys.readouterr().err


def test_unknown_sku_is_an_error_not_a_traceback(capsys: Any, tmp_path: Path) -> None:
    order = json.loads((EXAMPLES / "uk-consumer.json").read_text())
    order["lines"][0]["sku"] = "NO-SUCH-SKU"
    path = tmp_path / "unknown.json"
    path.write_text(json.dumps(order))
    code, _, err = _eval(capsys, str(path))
    assert code == 1
    assert "NO-SUCH-SKU" in err and "Traceback" not in err
