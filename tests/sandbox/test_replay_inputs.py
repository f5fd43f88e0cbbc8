"""Replay over awkward histories: duplicate ids, JSON that is not an order, orders failing
under both revisions, progress sizes, and the `--dask local` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sandbox_repo import TAX, branch, replay_on_dask

from api.cli.main import main
from sandbox import report_html
from sandbox.engine_port import RevisionSpec
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build
from sandbox.report_md import render
from sandbox.sources import open_source, pieces
from sandbox.sources.generator import GeneratorSource

VAT_21 = {"tax/vat.yaml": TAX.replace("rate: 20,", "rate: 21,")}


def _order(oid: str, **fields: Any) -> dict[str, Any]:
    order = {"id": oid, "date": "2011-02-01", "currency": "GBP", "seller": "northwind-uk",
             "customer": {"id": "C1", "country": "GB", "type": "consumer"},
             "lines": [{"sku": "WIDGET", "quantity": "10"}]}
    order.update(fields)
    return order


def _replay(repo: Path, base: str, head: str, path: Path, **kw: Any) -> dict[str, Any]:
    return build(replay(ReplayConfig(RevisionSpec(str(repo), base), RevisionSpec(str(repo), head),
                                     str(path), **kw)))


def test_duplicate_order_ids_are_replayed_and_kept_apart(
        needs_engine: Any, policy_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "vat-21", VAT_21)
    history = tmp_path / "dup.jsonl"
    # the same id three times, with the same size of change: ties on every rank but the line
    history.write_text("".join(json.dumps(_order("SAME")) + "\n" for _ in range(3)))
    for jobs, chunk in ((1, 250), (2, 1)):
        report = _replay(repo, base, head, history, jobs=jobs, chunk=chunk)
        assert report["counts"]["changed"] == 3
        assert [(d["order"], d["record"], d["total_change"]) for d in report["largest"]] == [
            ("SAME", 1, "1.00"), ("SAME", 2, "1.00"), ("SAME", 3, "1.00")]


def test_json_that_is_not_an_order_is_a_bad_record(
        needs_engine: Any, policy_repo: tuple[Path, str], tmp_path: Path) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "vat-21", VAT_21)
    history = tmp_path / "odd.jsonl"
    history.write_text("\n".join(json.dumps(o) for o in [
        _order("OK"),
        _order("CUSTOMER", customer="GB"),
        _order("COUPONS", coupons=5),
        _order("DATE", date=20110201),
        _order("LINE", lines=["WIDGET"]),
        # well-formed for pruning, but not an order the engine accepts: fails under both
        _order("QUANTITY", lines=[{"sku": "WIDGET", "quantity": "ten"}]),
    ]) + "\n")
    # in one process, and read by two worker processes two lines at a time
    for prune, jobs, chunk in ((True, 1, 250), (False, 1, 250), (True, 2, 2)):
        report = _replay(repo, base, head, history, prune=prune, jobs=jobs, chunk=chunk)
        c = report["counts"]
        assert (c["read"], c["issues"], c["evaluated"], c["changed"], c["errors_both"]) == (
            6, 4, 2, 1, 1)
        assert [(i["line"], i["code"], i["message"]) for i in report["issues"]] == [
            (2, "bad_order", "customer: expected an object, got a string"),
            (3, "bad_order", "coupons: expected a list, got a number"),
            (4, "bad_order", "date: expected a date YYYY-MM-DD, got a number"),
            (5, "bad_order", "lines[0]: expected an object, got a string")]
        assert all(i["file"] == str(history) for i in report["issues"])
        [both] = report["evaluation"]["errors_both"]
        assert both["orders"] == 1
        md = render(report)
        assert "1 fail under both revisions" in md
        assert f"### Orders that fail under both revisions\n\n| Error | Orders |\n|---|---|\n| " \
               f"{both['code']} | 1 |" in md
        assert f"| `{history}:2` | bad_order | customer: expected an object, got a string |" in md
        page = report_html.render(report)
        assert '<b data-figure="count-errors_both">1</b>' in page
        assert '<h2 id="errors_both">' in page


def test_sources_know_their_size() -> None:
    generated = GeneratorSource(7)
    assert (generated.total, generated.unit) == (7, "orders")
    path = Path(__file__).parent / "data" / "retail_bad.csv"
    csv_source = open_source(str(path))
    assert (csv_source.total, csv_source.unit) == (path.stat().st_size, "B")
    records = list(csv_source.records())
    assert records[-1].pos == path.stat().st_size
    assert [r.pos for r in records] == sorted(r.pos for r in records)


def test_jsonl_positions_and_gzip(tmp_path: Path) -> None:
    import gzip

    text = "".join(json.dumps(_order(f"O{i}")) + "\n" for i in range(50))
    plain = tmp_path / "o.jsonl"
    plain.write_text(text)
    source = open_source(str(plain))
    records = list(source.records())
    assert source.total == len(text.encode()) == records[-1].pos
    assert records[0].pos == len(text.splitlines(keepends=True)[0].encode())
    zipped = tmp_path / "o.jsonl.gz"
    zipped.write_bytes(gzip.compress(text.encode()))
    source = open_source(str(zipped))
    records = list(source.records())
    assert [r.order["id"] for r in records if r.order] == [f"O{i}" for i in range(50)]
    assert source.total == zipped.stat().st_size == records[-1].pos


def test_pieces_hold_the_records_of_the_source(tmp_path: Path) -> None:
    # what workers read from pieces is what the source streams: orders, bad lines by number,
    # and the progress position of each piece's end
    import gzip

    text = "".join(
        ("\n" if i % 7 == 3 else "") + (json.dumps(_order(f"O{i}")) if i % 5 else "{bad")
        + "\n" for i in range(23))
    plain, zipped = tmp_path / "o.jsonl", tmp_path / "o.jsonl.gz"
    plain.write_text(text)
    zipped.write_bytes(gzip.compress(text.encode()))

    def seen(records: Any) -> list[tuple[int, str]]:
        return [(r.line, r.order["id"] if r.order else r.issue.code) for r in records]

    for path in (plain, zipped):
        source = open_source(str(path))
        whole = seen(source.records())
        assert ("bad_json" in {w for _, w in whole}) and len(whole) == 23
        for size in (1, 4, 100):
            parts = list(pieces(source, size))
            assert seen(r for part in parts for r in part.records()) == whole
            assert [part.count for part in parts][:-1] == [size] * (len(parts) - 1)
            assert parts[-1].pos == path.stat().st_size
            assert [part.pos for part in parts] == sorted(part.pos for part in parts)
    generated = GeneratorSource(45, seed=4)
    for size in (1, 7, 45, 100):
        parts = list(pieces(generated, size))
        assert [(r.line, r.order) for part in parts for r in part.records()] == [
            (r.line, r.order) for r in generated.records()]
        assert sum(part.count for part in parts) == 45
    csv_path = Path(__file__).parent / "data" / "retail_bad.csv"
    csv_source = open_source(str(csv_path))
    parts = list(pieces(csv_source, 3))
    assert [r for part in parts for r in part.records()] == list(csv_source.records())
    assert parts[-1].pos == csv_path.stat().st_size


def test_csv_source_streams(tmp_path: Path) -> None:
    """An invoice comes out as soon as its last row is read, and memory stays flat."""
    import tracemalloc

    rows = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for i in range(20_000):
        rows.append(f"{540000 + i // 10},{22000 + i % 10},A CERAMIC MUG NUMBER {i % 10},2,"
                    "2/1/11 9:00,2.55,17850,United Kingdom")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    source = open_source(str(path))
    tracemalloc.start()
    first_pos, count = 0, 0
    for rec in source.records():
        assert rec.order is not None and len(rec.order["lines"]) == 10
        first_pos = first_pos or rec.pos
        count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 2000
    assert first_pos < path.stat().st_size / 1000
    # 20,000 rows held at once take well over 10 MB; one invoice and the index a fraction
    assert peak < 2_000_000, peak


def test_csv_source_streams_with_cancellations(tmp_path: Path) -> None:
    """Linking cancellations to their sales keeps what cancellations need, not the history."""
    import tracemalloc

    rows = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for i in range(20_000):
        rows.append(f"{540000 + i // 10},{22000 + i % 10},A CERAMIC MUG NUMBER {i % 10},2,"
                    f"1/{1 + i // 1000}/11 9:00,2.55,{17000 + i // 10},United Kingdom")
    rows.append("C560000,22003,A CERAMIC MUG NUMBER 3,-1,2/1/11 9:00,2.55,17005,United Kingdom")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(rows) + "\n")
    tracemalloc.start()
    notes = [r for r in open_source(str(path)).records()
             if r.order and r.order["id"].startswith("C")]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    [note] = notes
    assert (note.order["date"], note.as_of, note.order["attributes"]["original_invoice"]) == (
        "2011-01-01", "2011-02-01", "540005")
    assert peak < 2_000_000, peak


def test_linked_credit_notes_keep_the_rate_of_their_sale(
        needs_engine: Any, policy_repo: tuple[Path, str], tmp_path: Path) -> None:
    """A January return of a December sale is taxed at December's rate under both revisions:
    a change of January's rate leaves it alone; the reports count linked credit notes."""
    repo, base = policy_repo
    head = branch(repo, base, "vat-21-links", VAT_21)
    report = _replay(repo, base, head, Path(__file__).parent / "data" / "retail_links.csv")
    # the January sales (541100, 541101) and the credit notes at their own January date
    # (C541002 no sale, C541003 ambiguous, C541005 guest, C541006 sold only later) change;
    # C541001 and C541007 stay at their December sales' 17.5%
    changed = sorted(d["order"] for d in report["largest"])
    assert changed == ["541100", "541101", "C541002", "C541003", "C541005", "C541006"]
    assert report["counts"]["changed_credit_notes"] == 4
    assert report["credit_note_links"] == {"ambiguous": 1, "linked": 2, "unknown": 3}
    sentence = ("Of 6 credit notes, 2 were linked to the sale they cancel and taxed at its "
                "date; 4 at their own date (3 with no earlier sale found, 1 whose lines point "
                "to sales of different dates).")
    assert sentence in render(report)
    assert sentence in report_html.render(report)


# retail_returns.csv: a January sale after the rise and its return in February, linked to
# it: taxed at the sale's date, issued (and so counted) in February; a December sale and its
# January return, both taxed before the rise (pruned: the change cannot reach them)
RETURNS = Path(__file__).parent / "data" / "retail_returns.csv"


@pytest.mark.parametrize("engine", ["inline", "pruned", "processes", "dask"])
def test_a_credit_note_counts_in_the_month_it_is_issued(
        needs_engine: Any, policy_repo: tuple[Path, str], engine: str) -> None:
    """A credit note is taxed at the date of the sale it cancels but belongs to the month it is
    issued in: the invoice-month breakdown and the date listed are its own, the sale's date is
    shown beside it; every way of running the replay says the same."""
    repo, base = policy_repo
    head = branch(repo, base, "vat-21-months", VAT_21)
    path = RETURNS
    kw: dict[str, Any] = {"chunk": 1, "prune": engine == "pruned"}
    if engine == "dask":
        report = build(replay_on_dask(ReplayConfig(
            RevisionSpec(str(repo), base), RevisionSpec(str(repo), head), str(path), **kw)))
    else:
        report = _replay(repo, base, head, path, jobs=2 if engine == "processes" else 1, **kw)
    assert report["counts"]["skipped"] == (2 if engine == "pruned" else 0)
    # 20% -> 21% on the sale's 20.00 (+0.20, January) and the credit note's 10.00 (-0.10,
    # February, though taxed at the sale's date)
    assert [(p["period"], p["tax"]) for p in report["by_month"]] == [
        ("2011-01", "0.20"), ("2011-02", "-0.10")]
    listed = {d["order"]: (d["date"], d["invoice_date"]) for d in report["largest"]}
    assert listed == {"541200": ("2011-01-20", "2011-01-20"),
                      "C542001": ("2011-01-20", "2011-02-03")}
    text = render(report)
    assert "| C542001 | 2011-02-03 (sale 2011-01-20) | 700 | credit note; tax," in text, text
    assert "<td>2011-02-03 (sale 2011-01-20)</td>" in report_html.render(report)


@pytest.mark.slow
def test_dask_local_from_the_command_line(needs_engine: Any, policy_repo: tuple[Path, str],
                                          history: str, tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("dask.distributed")
    repo, base = policy_repo
    head = branch(repo, base, "vat-21", VAT_21)
    out = tmp_path / "dask"
    assert main(["replay", "--repo", str(repo), "--base", base, "--head", head, "--orders",
                 history, "--dask", "local", "--jobs", "1", "--out", str(out)]) == 0
    dask_report = json.loads((out / "replay.json").read_text())
    assert dask_report["timing"]["engine"] == "dask"
    inline = _replay(repo, base, head, Path(history))
    for key in ("counts", "totals", "largest", "by_jurisdiction", "fields"):
        assert dask_report[key] == json.loads(json.dumps(inline[key])), key
    assert capsys.readouterr().out.startswith("## Policy replay:")


def test_an_imported_history_replays_as_its_csv(needs_engine: Any, policy_repo: tuple[Path, str],
                                                tmp_path: Path) -> None:
    """`billplane import` keeps a linked credit note's invoice date: the JSON Lines history
    replays with the same months and dates as the CSV it came from."""
    repo, base = policy_repo
    head = branch(repo, base, "vat-21-imported", VAT_21)
    out = tmp_path / "returns.jsonl"
    assert main(["import", str(RETURNS), "--out", str(out)]) == 0
    assert any('"as_of"' in line for line in out.read_text().splitlines())
    from_csv = _replay(repo, base, head, RETURNS)
    from_jsonl = _replay(repo, base, head, out)
    for key in ("counts", "totals", "by_month"):
        assert from_jsonl[key] == from_csv[key], key
    # the same documents, dated the same; `record` is the line of each file
    assert ([{**d, "record": 0} for d in from_jsonl["largest"]]
            == [{**d, "record": 0} for d in from_csv["largest"]])
    assert [d["invoice_date"] for d in from_jsonl["largest"]] == ["2011-01-20", "2011-02-03"]
