"""Replay over awkward histories: duplicate ids, JSON that is not an order, orders failing
under both revisions, progress sizes, and the `--dask local` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sandbox_repo import TAX, branch

from api.cli.main import main
from sandbox import report_html
from sandbox.engine_port import RevisionSpec
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build
from sandbox.report_md import render
from sandbox.sources import open_source
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
    for prune in (True, False):
        report = _replay(repo, base, head, history, prune=prune)
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
