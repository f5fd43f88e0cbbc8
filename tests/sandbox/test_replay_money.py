"""A replay's numbers, computed by hand from the policies: UK VAT 20% -> 21% and a gap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox_repo import TAX, branch

from sandbox.engine_port import RevisionSpec
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build, metrics
from sandbox.report_md import render

# head: 21% from 2011-01-04, and no UK rate at all from 2011-06-01
HEAD_TAX = TAX.replace("- {rate: 20, effective: {from: 2011-01-04}}",
                       "- {rate: 21, effective: {from: 2011-01-04, until: 2011-06-01}}")


def _order(oid: str, date: str, country: str, lines: list[dict[str, str]],
           **extra: Any) -> str:
    return json.dumps({"id": oid, "date": date, "currency": "GBP", "seller": "northwind-uk",
                       "customer": {"id": f"C-{oid}", "country": country, "type": "consumer"},
                       "lines": lines, **extra})


def test_vat_change_numbers(needs_engine: Any, policy_repo: tuple[Path, str],
                            tmp_path: Path) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "vat-21", {"tax/vat.yaml": HEAD_TAX})
    widgets = [{"sku": "WIDGET", "quantity": "10"}]
    history = tmp_path / "orders.jsonl"
    history.write_text("\n".join([
        _order("A", "2011-02-01", "GB", widgets),  # 100.00 + 20% -> 21%
        _order("B", "2011-07-01", "GB", [{"sku": "WIDGET", "quantity": "1"}]),  # no rate
        "not json",
        _order("C", "2010-12-15", "GB", [{"sku": "RETAIL-GOODS", "quantity": "3",
                                          "unit_price": "2.55"}]),  # 17.5% both: pruned
        _order("D", "2011-02-01", "DE", widgets),  # German VAT: cannot change
        _order("E", "2011-02-01", "GB", [{"sku": "WIDGET", "quantity": "5"}],
               attributes={"document": "credit_note"}),  # a refund of 60.00 -> 60.50
    ]) + "\n")
    result = replay(ReplayConfig(RevisionSpec(str(repo), base), RevisionSpec(str(repo), head),
                                 str(history)))
    report = build(result)
    c = report["counts"]
    assert (c["read"], c["issues"], c["skipped"], c["evaluated"]) == (6, 1, 2, 3)
    assert (c["changed"], c["no_longer_evaluates"], c["newly_failing"]) == (3, 1, 0)
    assert report["issues"][0]["line"] == 3 and report["issues"][0]["code"] == "bad_json"
    [gbp] = report["totals"]
    # orders that evaluate under both: A 120.00 -> 121.00, credit note E -60.00 -> -60.50
    assert (gbp["orders"], gbp["base"]["total"], gbp["head"]["total"]) == (2, "60.00", "60.50")
    assert (gbp["delta"]["total"], gbp["delta"]["tax"]) == ("0.50", "0.50")
    assert gbp["change_percent"] == "0.83"
    # B cannot be invoiced under head: counted apart, not as lost revenue
    assert report["evaluation"]["no_longer_evaluate"] == {
        "orders": 1, "codes": [{"code": "no_tax_rate", "orders": 1}],
        "by_currency": [{"currency": "GBP", "orders": 1, "base_total": "12.00"}]}
    assert report["validations"] == []
    largest = {d["order"]: d for d in report["largest"]}
    assert largest["A"]["totals"]["tax"] == ["20.00", "21.00", "1.00"]
    assert largest["A"]["lines"][0]["changes"]["tax_total"] == ["20.00", "21.00", "1.00"]
    assert largest["A"]["lines"][0]["changes"]["tax[0].rate"] == ["20", "21", "1"]
    assert largest["A"]["rules"] == ["uk-vat"]
    assert (largest["E"]["document"], largest["E"]["total_change"]) == ("credit_note", "-0.50")
    assert largest["B"]["outcome"] == "no_longer_evaluates"
    assert (largest["B"]["head_error"], largest["B"]["base_total"]) == ("no_tax_rate", "12.00")
    assert largest["B"]["total_change"] == ""
    assert [d["order"] for d in report["largest"]] == ["B", "A", "E"]  # outcome changes first
    by_customer = {r["key"]: r["total"] for r in report["by_customer"]["rows"]}
    assert by_customer == {"C-A": "1.00", "C-E": "-0.50"}
    jur = {r["key"]: (r["net"], r["tax"], r["total"])
           for r in report["by_jurisdiction"]["rows"]}
    assert jur == {"GB": ("0.00", "0.50", "0.50")}  # A +1.00, E -0.50
    assert metrics(report)["newly_failing"] == 1
    assert "C" not in largest and "D" not in largest
    md = render(report)
    assert "**1 no longer evaluate** under head" in md
    assert "### Orders that no longer evaluate\n\n1 orders; their base totals: GBP 12.00" in md
    assert "| no_tax_rate | 1 |" in md
    assert ("| B | 2011-07-01 | C-B | no longer evaluates (no_tax_rate); base total 12.00 |  |  "
            "| uk-vat |") in md
    # the refund grows: a negative change, marked as a credit note
    assert ("| E | 2011-02-01 | C-E | credit note; tax, early payment, installments | -0.50 | "
            "-0.50 | uk-vat |") in md
