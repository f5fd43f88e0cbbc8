"""Reports: the Markdown comment fits GitHub's limit; the HTML page works in Chromium."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox_repo import TAX, branch

from sandbox import report_html, report_md
from sandbox.aggregate import Aggregate
from sandbox.engine_port import RevisionSpec
from sandbox.output import write_reports
from sandbox.prune import Predicate
from sandbox.replay import ReplayConfig, ReplayResult, replay
from sandbox.report import build


def _doc(i: int, tax: str, total: str) -> dict[str, Any]:
    net = str(Decimal(total) - Decimal(tax))
    return {"doc": {"currency": "GBP", "customer": {"id": f"CUSTOMER-{i:06d}", "country": "GB"},
                    "totals": {"subtotal": net, "discount": "0.00", "net": net, "tax": tax,
                               "total": total},
                    "lines": [{"sku": f"SKU-{i}", "net": net, "tax_total": tax, "total": total,
                               "tax": [{"rule": "uk-vat", "jurisdiction": "GB", "amount": tax}]}],
                    "violations": []},
            "trace": [{"path": "lines[0].tax[0].amount", "rule": "uk-vat"}]}


def _big_report(n: int) -> dict[str, Any]:
    agg = Aggregate(top_n=n)
    for i in range(n):
        order = {"id": f"ORDER-{i:06d}", "date": "2011-02-01", "currency": "GBP",
                 "customer": {"id": f"CUSTOMER-{i:06d}"}}
        # order i's tax (and total) rises by i pence
        agg.add_order(order, _doc(i, "1.00", "10.00"),
                      _doc(i, f"{Decimal('1.00') + Decimal(i) / 100:.2f}",
                           f"{Decimal('10.00') + Decimal(i) / 100:.2f}"), record=i + 1)
    result = ReplayResult(agg, Predicate(everything=True, reasons=["all orders: test"]),
                          {"revision": "a" * 40}, {"revision": "b" * 40}, "test", 1.0, 1)
    return build(result)


def test_markdown_fits_comment_limit_with_note() -> None:
    report = _big_report(5000)
    text = report_md.render(report)
    assert len(text) <= report_md.COMMENT_LIMIT
    # order 0 does not change: 4999 do
    assert text.index("**4999** of 5000") < text.index("### Largest changes")  # summary first
    assert "_Showing 25 of 4999 rows; the JSON and HTML reports have all 4999 listed" in text
    # the largest change (49.99) comes first
    assert text.index("| ORDER-004999 | 2011-02-01 | CUSTOMER-004999 | tax | +49.99 | +49.99 |"
                      " uk-vat |") < text.index("ORDER-004998")
    assert report["totals"][0]["delta"]["total"] == "124975.00"  # 0.01 x (0 + ... + 4999)


def _changes(n: int, credit_notes: dict[int, str], top: int = 100) -> dict[str, Any]:
    """n changed orders (order i's tax rises by i + 1 pence), some of them credit notes whose
    tax rises by the amount given: a larger refund, a negative change."""
    agg = Aggregate(top_n=top)
    for i in range(n):
        order: dict[str, Any] = {"id": f"ORDER-{i:06d}", "date": "2011-02-01",
                                 "currency": "GBP", "customer": {"id": f"C-{i:06d}"}}
        rise = Decimal(i + 1) / 100
        if i in credit_notes:
            order["attributes"] = {"document": "credit_note"}
            rise = Decimal(credit_notes[i])
        agg.add_order(order, _doc(i, "1.00", "10.00"),
                      _doc(i, f"{1 + rise:.2f}", f"{10 + rise:.2f}"), record=i + 1)
    result = ReplayResult(agg, Predicate(everything=True, reasons=["all orders: test"]),
                          {"revision": "a" * 40}, {"revision": "b" * 40}, "test", 1.0, 1)
    return build(result)


def test_reports_say_how_many_of_the_changed_orders_they_list() -> None:
    """975 changes, 100 kept (`--top 100`): no report claims to have "the rest"; a large
    credit note ranks by the size of its change, a small one is counted though not listed."""
    report = _changes(975, {3: "50.00", 4: "0.01"})
    assert report["counts"]["changed"] == 975
    assert report["counts"]["changed_credit_notes"] == 2
    assert len(report["largest"]) == 100
    assert report["largest_listing"] == {"top": 100, "listed": 100, "changed": 975,
                                         "credit_notes_listed": 1, "changed_credit_notes": 2}
    # ranked by the absolute change: the credit note's -50.00 comes first
    assert (report["largest"][0]["order"], report["largest"][0]["total_change"]) == (
        "ORDER-000003", "-50.00")
    assert "ORDER-000004" not in {d["order"] for d in report["largest"]}
    text = report_md.render(report)
    assert "the rest" not in text
    assert ("975 orders change (2 of them credit notes); listed are the 100 largest "
            "(`--top 100`)") in text
    assert "1 of the listed are credit notes" in text
    assert ("_Showing 25 of 100 rows; the JSON and HTML reports have all 100 listed "
            "(`--top 100`)._") in text
    page = report_html.render(report)
    assert ("975 orders change (2 of them credit notes); listed are the 100 largest "
            "(--top 100)") in page
    assert '<b data-figure="count-changed_credit_notes">2</b>' in page
    assert page.count("ORDER-") == 100  # the HTML lists the 100 kept, and says so


def test_reports_list_every_change_when_they_fit() -> None:
    report = _changes(30, {}, top=100)
    assert report["largest_listing"]["listed"] == 30
    text = report_md.render(report)
    assert "All 30 changed orders are listed" in text
    assert "_Showing 25 of 30 rows; the JSON and HTML reports have all 30 listed" in text
    assert "All 30 changed orders are listed" in report_html.render(report)


def test_capped_breakdowns_say_the_other_rows_are_summed() -> None:
    report = _changes(1005, {}, top=10)
    b = report["by_customer"]
    assert (len(b["rows"]), b["more"]) == (1000, 5)
    text = report_md.render(report)
    assert ("_Showing 25 of 1005 rows; the JSON and HTML reports have the largest 1000, and "
            "the other 5 summed per currency._") in text
    # the five smallest changes: 0.01 + ... + 0.05
    assert "The largest 1000 rows; the other 5, summed per currency: GBP: total 0.15." in (
        report_html.render(report))


def test_html_colours_changes_not_totals() -> None:
    """Green and red mark the direction of a change; a total is no change and is not
    coloured (a base total would read as a rise)."""
    page = report_html.render(_big_report(3))
    assert '<td class="num" data-figure="base-total-GBP">30.00</td>' in page
    assert '<td class="num" data-figure="head-tax-GBP">' in page
    assert '<td class="num pos" data-figure="total-delta-GBP">0.03</td>' in page


def test_tax_change_on_issued_invoices_says_rises_and_falls_do_not_offset() -> None:
    """The figure adds up the size of each issued invoice's tax change (each is a correction
    to make): the reports say so, so that it does not read as a net rise."""
    agg = Aggregate()
    for i, head_tax in enumerate(("3.00", "0.00")):  # +2.00 on one invoice, -1.00 on another
        order = {"id": f"O{i}", "date": "2011-02-01", "currency": "GBP",
                 "customer": {"id": f"CUSTOMER-{i:06d}"},
                 "attributes": {"issued_invoice": f"NWUK-2011-00000{i}"}}
        agg.add_order(order, _doc(i, "1.00", "10.00"),
                      _doc(i, head_tax, f"{Decimal('9.00') + Decimal(head_tax):.2f}"))
    report = build(ReplayResult(agg, Predicate(everything=True, reasons=["all orders: test"]),
                                {"revision": "a" * 40}, {"revision": "b" * 40}, "test", 1.0, 1))
    assert report["totals"][0]["delta"]["tax"] == "1.00"
    assert report["issued_tax_change"] == {"GBP": "3.00"}
    why = ("each order's change by its size: a rise on one invoice and a fall on another do "
           "not offset, each is a correction")
    assert f"**Tax change on already-issued invoices:** GBP 3.00 ({why}).\n" in (
        report_md.render(report))
    assert f"Tax change on already-issued invoices: GBP 3.00 ({why}).</p>" in (
        report_html.render(report).replace("&#x27;", "'"))


def test_markdown_hard_limit() -> None:
    report = _big_report(50)
    text = report_md.render(report, extra="x" * 70000, limit=65536)
    assert len(text) <= 65536 and text.endswith("_Report truncated to fit the comment limit._\n")


def _vat_report(repo: Path, base: str, history: str) -> dict[str, Any]:
    head = branch(repo, base, "html-vat", {"tax/vat.yaml": TAX.replace("rate: 20,",
                                                                       "rate: 21,")})
    return build(replay(ReplayConfig(RevisionSpec(str(repo), base),
                                     RevisionSpec(str(repo), head), history)))


def test_reports_written_and_consistent(needs_engine: Any, policy_repo: tuple[Path, str],
                                        history: str, tmp_path: Path) -> None:
    report = _vat_report(*policy_repo, history)
    paths = write_reports(str(tmp_path), report)
    data = json.loads(paths["json"].read_text())
    assert data["totals"] == report["totals"]
    page = paths["html"].read_text()
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<link rel=\"stylesheet\"" not in page
    gbp = next(t for t in report["totals"] if t["currency"] == "GBP")
    assert f'data-figure="total-delta-GBP">{gbp["delta"]["total"]}<' in page


def test_replay_reports_name_the_revisions_by_ref_and_subject(
        needs_engine: Any, policy_repo: tuple[Path, str], history: str, tmp_path: Path,
        capsys: Any) -> None:
    """`billplane replay --base main --head BRANCH` names both sides by the refs given and
    their commits' subjects, which outlive a scratch repository's SHAs."""
    from sandbox_repo import git

    from api.cli.main import main

    repo, base = policy_repo
    head = branch(repo, base, "vat-21-named", {"tax/vat.yaml": TAX.replace("rate: 20,",
                                                                           "rate: 21,")})
    subject = git(repo, "log", "-1", "--format=%s", head)
    base_subject = git(repo, "log", "-1", "--format=%s", base)
    out = tmp_path / "out"
    assert main(["replay", "--repo", str(repo), "--base", base[:12], "--head",
                 "vat-21-named", "--orders", history, "--out", str(out)]) == 0
    capsys.readouterr()
    data = json.loads((out / "replay.json").read_text())
    assert (data["head"]["ref"], data["head"]["subject"]) == ("vat-21-named", subject)
    md = (out / "replay.md").read_text()
    # a SHA given as the ref is not repeated
    assert md.startswith(f"## Policy replay: `{base[:12]}` → `vat-21-named` (`{head[:12]}`)\n"
                         f"_base `{base[:12]}`: {base_subject}; head `vat-21-named`: "
                         f"{subject}._\n")
    page = (out / "replay.html").read_text()
    assert f"<h1>Policy replay: {base[:12]} → vat-21-named ({head[:12]})</h1>" in page
    assert f'<p class="note">head vat-21-named: {subject}</p>' in page


def test_html_report_in_headless_chromium(needs_engine: Any, policy_repo: tuple[Path, str],
                                          history: str, tmp_path: Path, chrome: Any,
                                          artifacts: Path) -> None:
    from selenium.webdriver.common.by import By

    report = _vat_report(*policy_repo, history)
    paths = write_reports(str(tmp_path), report)
    chrome.get(paths["html"].resolve().as_uri())
    gbp = next(t for t in report["totals"] if t["currency"] == "GBP")
    assert chrome.find_element(By.CSS_SELECTOR, '[data-figure="total-delta-GBP"]').text \
        == gbp["delta"]["total"]
    assert chrome.find_element(By.CSS_SELECTOR, '[data-figure="count-changed"]').text \
        == str(report["counts"]["changed"])
    bars = chrome.find_elements(By.CSS_SELECTOR, "#chart-tax-month-GBP rect")
    assert len(bars) == len([p for p in report["by_month"] if p["currency"] == "GBP"])
    for chart in ("tax-jurisdiction", "total-jurisdiction", "total-month"):
        assert chrome.find_elements(By.CSS_SELECTOR, f"#chart-{chart}-GBP rect"), chart
    # sorting by a column runs the page's script without errors
    chrome.find_element(By.CSS_SELECTOR, "table.sortable th").click()
    errors = [e for e in chrome.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    chrome.set_window_size(1280, 2000)
    chrome.save_screenshot(str(artifacts / "replay-report.png"))
    assert (artifacts / "replay-report.png").stat().st_size > 10_000
    page = report_html.render(report)
    # per currency: tax and total by month and by jurisdiction; VAT leaves net and revenue
    assert page.count("<svg") == 4 * len(report["totals"]) == 12
    assert "Recognised revenue change by recognition period, GBP: no change." in page
    assert "Revenue (net) change by jurisdiction, GBP: no change." in page


def test_html_tables_sort_by_the_clicked_column_in_every_table(tmp_path: Path,
                                                              chrome: Any) -> None:
    """Every table of the page sorts by its own column (not the first table's only), amounts
    as numbers and dates as dates."""
    from selenium.webdriver.common.by import By

    first = report_html.table(["Currency", "Orders"], [["GBP", "3"], ["EUR", "1"]])
    second = report_html.table(
        ["Order", "Date", "Total change"],
        [["A", "2011-01-04", "-0.50"], ["B", "2010-12-15", "12.25"], ["C", "2011-02-01", "2.00"],
         ["D", "2011-01-20", "-10.00"]], {2})
    page = tmp_path / "page.html"
    page.write_text(report_html.page("sorting", [first, second]), encoding="utf-8")
    chrome.get(page.resolve().as_uri())

    def column(n: int) -> list[str]:
        rows = chrome.find_elements(By.CSS_SELECTOR, "table.sortable")[1].find_elements(
            By.CSS_SELECTOR, "tbody tr")
        return [r.find_elements(By.TAG_NAME, "td")[n].text for r in rows]

    date, change = chrome.find_elements(By.CSS_SELECTOR, "table.sortable")[1].find_elements(
        By.TAG_NAME, "th")[1:]
    date.click()
    assert column(1) == ["2010-12-15", "2011-01-04", "2011-01-20", "2011-02-01"]
    date.click()
    assert column(1) == ["2011-02-01", "2011-01-20", "2011-01-04", "2010-12-15"]
    change.click()
    assert column(2) == ["-10.00", "-0.50", "2.00", "12.25"]
    errors = [e for e in chrome.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []


def test_replay_reports_name_head_by_the_branch_it_is_on(
        needs_engine: Any, history: str, tmp_path: Path, capsys: Any) -> None:
    """`--head HEAD` names the branch checked out, with HEAD beside it; a detached HEAD (a CI
    merge commit) is named HEAD, by its short SHA and subject."""
    from sandbox_repo import git, make_repo

    from api.cli.main import main

    repo = tmp_path / "repo"
    base = make_repo(repo)
    head = branch(repo, base, "vat-21", {"tax/vat.yaml": TAX.replace("rate: 20,", "rate: 21,")})
    git(repo, "checkout", "-q", "vat-21")
    out = tmp_path / "out"
    assert main(["replay", "--repo", str(repo), "--base", "main", "--head", "HEAD",
                 "--orders", history, "--out", str(out)]) == 0
    capsys.readouterr()
    data = json.loads((out / "replay.json").read_text())
    assert {k: data["head"][k] for k in ("ref", "branch", "subject")} == {
        "ref": "HEAD", "branch": "vat-21", "subject": "vat-21"}
    assert "branch" not in data["base"]
    assert (out / "replay.md").read_text().startswith(
        f"## Policy replay: `main` (`{base[:12]}`) → `vat-21` (HEAD at `{head[:12]}`)\n"
        "_base `main`: base policies; head `vat-21` (HEAD): vat-21._\n")
    page = (out / "replay.html").read_text()
    assert f"<h1>Policy replay: main ({base[:12]}) → vat-21 (HEAD at {head[:12]})</h1>" in page
    assert '<p class="note">head vat-21 (HEAD): vat-21</p>' in page
    git(repo, "checkout", "-q", "--detach", "vat-21")
    assert main(["replay", "--repo", str(repo), "--base", "main", "--head", "HEAD",
                 "--orders", history, "--out", str(out)]) == 0
    capsys.readouterr()
    assert "branch" not in json.loads((out / "replay.json").read_text())["head"]
    assert (out / "replay.md").read_text().startswith(
        f"## Policy replay: `main` (`{base[:12]}`) → `HEAD` (`{head[:12]}`)\n"
        "_base `main`: base policies; head `HEAD`: vat-21._\n")


def _percent_report() -> dict[str, Any]:
    """Four currencies whose totals (100.00 each) change by 12.50%, -0.50%, 2.00%, -10.00%."""
    agg = Aggregate()
    for i, (cur, head) in enumerate((("GBP", "112.50"), ("EUR", "99.50"), ("USD", "102.00"),
                                     ("CHF", "90.00"))):
        order = {"id": f"O{i}", "date": "2011-02-01", "currency": cur,
                 "customer": {"id": f"C{i}"}}
        base_doc, head_doc = _doc(i, "10.00", "100.00"), _doc(i, "10.00", head)
        base_doc["doc"]["currency"] = head_doc["doc"]["currency"] = cur
        agg.add_order(order, base_doc, head_doc, record=i + 1)
    return build(ReplayResult(agg, Predicate(everything=True, reasons=["all orders: test"]),
                              {"revision": "a" * 40}, {"revision": "b" * 40}, "test", 1.0, 1))


def test_html_change_percent_reads_as_a_percentage() -> None:
    page = report_html.render(_percent_report())
    assert '<th>Change %</th>' in page
    assert '<td class="num pos" data-figure="total-percent-GBP">12.50%</td>' in page
    assert '<td class="num neg" data-figure="total-percent-CHF">-10.00%</td>' in page


def test_html_change_percent_sorts_as_numbers(tmp_path: Path, chrome: Any) -> None:
    from selenium.webdriver.common.by import By

    page = tmp_path / "replay.html"
    page.write_text(report_html.render(_percent_report()), encoding="utf-8")
    chrome.get(page.resolve().as_uri())
    money = chrome.find_elements(By.CSS_SELECTOR, "table.sortable")[0]
    header = money.find_elements(By.TAG_NAME, "th")[5]
    assert header.text == "Change %"

    def column() -> list[str]:
        return [r.find_elements(By.TAG_NAME, "td")[5].text
                for r in money.find_elements(By.CSS_SELECTOR, "tbody tr")]

    header.click()
    assert column() == ["-10.00%", "-0.50%", "2.00%", "12.50%"]
    header.click()
    assert column() == ["12.50%", "2.00%", "-0.50%", "-10.00%"]
    errors = [e for e in chrome.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
