"""The README's VAT-rise demo, run as a new user runs it: the script, its reports, its figures."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RISE = dt.date(2011, 1, 4)


def recount(path: Path) -> dict[str, Any]:
    """The demo's figures counted from its CSV alone, without the importer: documents, credit
    notes, credit notes linked to a sale (the customer's latest earlier sale of each StockCode,
    all of one date), the UK documents taxed on or after the rise (those that change) and how
    many of them were issued in each month (a credit note on its own date, not its sale's)."""
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter=";"))

    def when(text: str) -> dt.datetime:
        day, time = text.split()
        m, d, y = (int(x) for x in day.split("/"))
        h, mi = (int(x) for x in time.split(":")[:2])
        return dt.datetime(y + 2000 if y < 100 else y, m, d, h, mi)

    documents: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        documents.setdefault(row["InvoiceNo"], []).append(row)
    sales = [(when(r["InvoiceDate"]), r["CustomerID"], r["StockCode"]) for r in rows
             if not r["InvoiceNo"].startswith("C")]
    n: dict[str, Any] = dict.fromkeys(("documents", "credit_notes", "linked", "changed",
                                       "changed_credit_notes"), 0)
    n["months"] = {}
    for number, lines in documents.items():
        n["documents"] += 1
        at = when(lines[0]["InvoiceDate"])
        taxed = at.date()
        if number.startswith("C"):
            n["credit_notes"] += 1
            customer = lines[0]["CustomerID"]
            dates = set()
            for line in lines if customer not in ("", "NA") else ():
                earlier = [s[0] for s in sales
                           if s[1:] == (customer, line["StockCode"]) and s[0] < at]
                if earlier:
                    dates.add(max(earlier).date())
            if len(dates) == 1:
                n["linked"] += 1
                [taxed] = dates
        if lines[0]["Country"] == "United Kingdom" and taxed >= RISE:
            n["changed"] += 1
            n["changed_credit_notes"] += number.startswith("C")
            month = at.strftime("%Y-%m")
            n["months"][month] = n["months"].get(month, 0) + 1
    return n


def test_vat_rise_demo_script(needs_engine: Any, tmp_path: Path) -> None:
    """`examples/vat-rise-demo.sh OUT` writes the three reports, names both revisions by
    branch and subject, and gives the figures the README quotes."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}"}
    out = tmp_path / "vat-rise-report"
    done = subprocess.run(["bash", str(ROOT / "examples" / "vat-rise-demo.sh"), str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "replay.json").read_text())
    c = report["counts"]
    # 1,807 invoices and 31 credit notes; the change reaches UK orders taxed from 2011-01-04
    # only, and a credit note is taxed at the date of the sale it cancels when linked to it
    n = recount(out / "orders.csv")
    assert n == {"documents": 1838, "credit_notes": 31, "linked": 27, "changed": 975,
                 "changed_credit_notes": 20,
                 "months": {"2011-01": 545, "2011-02": 428, "2011-03": 2}}
    assert (c["read"], c["issues"], c["evaluated"] + c["skipped"]) == (1838, 0, 1838)
    assert (c["changed"], c["changed_credit_notes"]) == (n["changed"], n["changed_credit_notes"])
    assert report["credit_note_links"] == {"linked": 27, "unknown": 4}
    [gbp] = report["totals"]
    assert (gbp["delta"]["total"], gbp["delta"]["tax"], gbp["delta"]["net"]) == (
        "826.13", "826.13", "0.00")
    # by invoice month: the 2 credit notes issued in March (of February sales, at their
    # rate) count in March
    assert [(p["period"], p["total"]) for p in report["by_month"]] == [
        ("2011-01", "459.65"), ("2011-02", "367.61"), ("2011-03", "-1.13")]
    assert [p["period"] for p in report["by_month"]] == sorted(n["months"])
    assert (report["base"]["ref"], report["head"]["ref"]) == ("before-the-rise", "main")
    md = (out / "replay.md").read_text()
    assert md.startswith("## Policy replay: `before-the-rise` (`")
    assert "**975** of 1838 orders change, 20 of them credit notes" in md
    assert "Of 31 credit notes, 27 were linked to the sale they cancel" in md
    assert md in done.stdout
    assert "<h1>Policy replay: before-the-rise (" in (out / "replay.html").read_text()
    assert (out / "orders.csv").exists()  # the history the reports name outlives the script
    readme = (ROOT / "README.md").read_text()
    for figure in ("1,807 invoices", "37 cancellation lines", "31 credit notes",
                   "975 of the 1,838 change", "20 of them credit notes", "GBP +826.13",
                   "+459.65 in January, +367.61 in February and -1.13 in March",
                   "2 credit notes issued in March"):
        assert figure in readme, figure
