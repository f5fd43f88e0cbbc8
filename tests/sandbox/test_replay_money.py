"""A replay's numbers, computed by hand from the policies: UK VAT 20% -> 21% and a gap."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sandbox_repo import TAX, branch

from sandbox.engine_port import RevisionSpec
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build

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
        _order("E", "2011-02-01", "GB", widgets, attributes={"document": "credit_note"}),
    ]) + "\n")
    result = replay(ReplayConfig(RevisionSpec(str(repo), base), RevisionSpec(str(repo), head),
                                 str(history)))
    report = build(result)
    c = report["counts"]
    assert (c["read"], c["issues"], c["skipped"], c["evaluated"]) == (6, 1, 2, 3)
    assert (c["changed"], c["newly_failing"], c["newly_passing"]) == (3, 1, 0)
    assert report["issues"][0]["line"] == 3 and report["issues"][0]["code"] == "bad_json"
    [gbp] = report["totals"]
    # replayed orders only: base A 120.00 + B 12.00 - E 120.00; head A 121.00 - E 121.00
    assert gbp["base"]["total"] == "12.00"
    assert gbp["head"]["total"] == "0.00"
    assert gbp["delta"]["total"] == "-12.00"
    assert gbp["delta"]["tax"] == "-2.00"
    assert report["validations"]["newly_failing"] == {"no_tax_rate": 1}
    largest = {d["order"]: d for d in report["largest"]}
    assert largest["A"]["totals"]["tax"] == ["20.00", "21.00", "1.00"]
    assert largest["A"]["lines"][0]["changes"]["tax_total"] == ["20.00", "21.00", "1.00"]
    assert "uk-vat" in largest["A"]["rules"]
    assert largest["B"]["outcome"] == "newly_failing"
    assert largest["B"]["head_error"] == "no_tax_rate"
    assert report["largest"][0]["order"] == "B"  # outcome changes first
    by_customer = {r["key"]: r["delta"] for r in report["by_customer"]["rows"]}
    assert by_customer == {"C-A": "1.00", "C-B": "-12.00", "C-E": "-1.00"}
    jur = {r["key"]: r["delta"] for r in report["by_jurisdiction"]["rows"]}
    assert jur == {"GB": "-2.00"}  # A +1.00, B -2.00, E -1.00
    assert "C" not in largest and "D" not in largest
