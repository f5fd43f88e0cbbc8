"""History sources: Online Retail import, JSON Lines, the generator and the invoice store."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli.main import main
from sandbox.sources import open_source
from sandbox.sources.generator import GeneratorSource, load_distributions

DATA = Path(__file__).parent / "data"
CASES = sorted((Path(__file__).parents[1] / "cases" / "sandbox_import").glob("*.yaml"))
REAL = Path(__file__).parents[2] / "sandbox" / "data" / "online_retail"


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_import_case(case: Path) -> None:
    spec = yaml.safe_load(case.read_text())
    records = list(open_source(str(DATA / spec["file"])).records())
    issues = {r.line: r.issue.code for r in records if r.issue}
    assert issues == {int(k): v for k, v in (spec["issues"] or {}).items()}
    messages = {r.line: r.issue.message for r in records if r.issue}
    for line, message in (spec.get("messages") or {}).items():
        assert messages[int(line)] == message
    for r in records:
        if r.issue:
            assert r.issue.location.line == r.line and r.issue.location.file.endswith(spec["file"])
    orders = {r.order["id"]: r.order for r in records if r.order}
    assert sorted(orders) == sorted(spec["orders"])
    for oid, exp in (spec.get("expect") or {}).items():
        o = orders[oid]
        assert o["date"] == exp["date"]
        assert o["customer"] == exp["customer"]
        assert len(o["lines"]) == exp["lines"]
        if "line1_description" in exp:
            assert o["lines"][1]["description"] == exp["line1_description"]
        if "incomplete" in exp:
            assert (o["attributes"].get("incomplete") == "true") is exp["incomplete"]


def test_bad_rows_mark_invoice_and_cancellation_is_credit_note() -> None:
    orders = {r.order["id"]: r.order for r in open_source(str(DATA / "retail_bad.csv")).records()
              if r.order}
    first = orders["536365"]
    assert [(ln["quantity"], ln["unit_price"], ln["attributes"]["stock_code"])
            for ln in first["lines"]] == [("6", "2.55", "85123A"), ("6", "3.39", "71053")]
    assert {ln["sku"] for ln in first["lines"]} == {"RETAIL-GOODS"}
    assert first["seller"] == "northwind-uk" and first["currency"] == "GBP"
    credit = orders["C536379"]
    assert credit["attributes"]["document"] == "credit_note"
    assert credit["lines"][0]["quantity"] == "1"  # positive: the document type carries the sign
    assert orders["536383"]["customer"] == {"id": "guest", "country": "IE", "type": "consumer"}


def test_real_head_export() -> None:
    records = list(open_source(str(REAL / "OnlineRetail_head.evanvolgas.csv")).records())
    assert not [r for r in records if r.issue]
    orders = [r.order for r in records if r.order]
    # 66 distinct InvoiceNo values, 4 of them C-prefixed (10 cancellation rows), 999 rows
    assert len(orders) == 66
    assert sum(len(o["lines"]) for o in orders) == 999
    assert sum(1 for o in orders if o["attributes"].get("document") == "credit_note") == 4
    assert all(o["date"] == "2010-12-01" for o in orders)


def test_real_sample_export_all_rows_accounted_for() -> None:
    records = list(open_source(str(REAL / "online_retail_sample5000.rhozon.csv")).records())
    issues = [r for r in records if r.issue]
    lines = sum(len(r.order["lines"]) for r in records if r.order)
    assert lines + len(issues) == 5000


def test_jsonl_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    path.write_text('{"id": "A"}\n\n[1, 2]\n{"id": ""}\n{"id": "B", \n{"id": "C"}\n')
    records = list(open_source(str(path)).records())
    assert [(r.line, r.issue.code if r.issue else r.order["id"]) for r in records] == [
        (1, "A"), (3, "bad_order"), (4, "bad_order"), (5, "bad_json"), (6, "C")]


def test_generator_is_seeded_and_deterministic() -> None:
    a = list(GeneratorSource(300, seed=5).orders())
    b = list(GeneratorSource(300, seed=5).orders())
    c = list(GeneratorSource(300, seed=6).orders())
    assert a == b and a != c
    assert len({o["id"] for o in a}) == 300


def test_generator_follows_the_real_country_mix() -> None:
    dist = load_distributions()
    weights = dict(dist["countries"])
    expected_gb = weights["GB"] / sum(weights.values())
    customers = Counter(o["customer"]["country"] for o in GeneratorSource(
        4000, seed=2, customers=20000).orders())
    assert abs(customers["GB"] / 4000 - expected_gb) < 0.03
    prices = {p[0]: p[2] for p in dist["products"]}
    for order in GeneratorSource(200, seed=3).orders():
        for line in order["lines"]:
            assert line["unit_price"] == prices[line["attributes"]["stock_code"]]


def test_generate_and_import_commands(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "g.jsonl"
    assert main(["generate", "--count", "50", "--seed", "9", "--out", str(out)]) == 0
    again = tmp_path / "g2.jsonl"
    assert main(["generate", "--count", "50", "--seed", "9", "--out", str(again)]) == 0
    assert out.read_bytes() == again.read_bytes()
    assert len(out.read_text().splitlines()) == 50
    target = tmp_path / "i.jsonl"
    assert main(["import", str(DATA / "retail_bad.csv"), "--out", str(target)]) == 0
    err = capsys.readouterr().err
    assert "retail_bad.csv:9:1: unknown_country" in err and "3 orders, 6 bad rows" in err
    assert [json.loads(x)["id"] for x in target.read_text().splitlines()] == [
        "536365", "C536379", "536383"]
    assert main(["import", str(DATA / "retail_bad.csv"), "--out", str(target), "--strict"]) == 1


def _store_rows(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS invoice_void_sandbox_test"))
        conn.execute(text("DROP TABLE IF EXISTS invoice_sandbox_test"))
        conn.execute(text("CREATE TABLE invoice_sandbox_test (id INTEGER, number VARCHAR(100), "
                          "date DATE, order_json TEXT)"))
        conn.execute(text("CREATE TABLE invoice_void_sandbox_test (invoice_id INTEGER)"))
        for n, (number, day) in enumerate((("UK-1", "2026-01-05"), ("UK-2", "2026-02-05"),
                                           ("UK-3", "2026-03-05"), ("UK-5", "2026-03-06"))):
            order = {"id": f"O-{number}", "date": day, "attributes": {"channel": "web"}}
            conn.execute(text("INSERT INTO invoice_sandbox_test VALUES (:i, :n, :d, :o)"),
                         {"i": n + 1, "n": number, "d": day, "o": json.dumps(order)})
        conn.execute(text("INSERT INTO invoice_sandbox_test VALUES (9, 'UK-4', '2026-02-07', "
                          "'{broken')"))
        conn.execute(text("INSERT INTO invoice_void_sandbox_test VALUES (4)"))  # UK-5 voided
    engine.dispose()


def _read_store(url: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import sandbox.sources.store as store

    monkeypatch.setattr(store, "INVOICES", "invoice_sandbox_test")
    monkeypatch.setattr(store, "VOIDS", "invoice_void_sandbox_test")
    return list(open_source(f"{url}?from=2026-02-01&until=2026-04-01").records())


def test_store_source_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _store_rows(url)
    records = _read_store(url, monkeypatch)
    assert [(r.line, r.order["id"] if r.order else r.issue.code) for r in records] == [
        (1, "O-UK-2"), (2, "bad_json"), (3, "O-UK-3")]
    assert records[0].order["attributes"] == {"channel": "web", "issued_invoice": "UK-2"}


@pytest.mark.postgres
def test_store_source_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    try:
        _store_rows(url)
    except Exception as exc:  # noqa: BLE001 - any connection failure means: not here
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {type(exc).__name__}")
    records = _read_store(url, monkeypatch)
    assert [r.order["id"] if r.order else r.issue.code for r in records] == [
        "O-UK-2", "bad_json", "O-UK-3"]


def test_store_source_reads_the_service_invoice_table(tmp_path: Path) -> None:
    import datetime as dt

    from sqlmodel import Session, SQLModel, create_engine

    from api.tables import Invoice, InvoiceVoid

    url = f"sqlite:///{tmp_path / 'service.db'}"
    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    now = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    with Session(engine) as session:
        for seq, day in ((1, dt.date(2026, 1, 31)), (2, dt.date(2026, 2, 1)),
                         (3, dt.date(2026, 2, 2))):
            order = {"id": f"O{seq}", "date": day.isoformat()}
            session.add(Invoice(id=seq, number=f"UK-{seq}", series="UK", seq=seq,
                                order_id=f"O{seq}", customer_id="C", date=day, currency="GBP",
                                total="1.00", revision="r", digest="d", issued_at=now, actor="t",
                                order_json=json.dumps(order), invoice_json="{}"))
        session.commit()
        session.add(InvoiceVoid(invoice_id=3, reason="duplicate", created_at=now, actor="t"))
        session.commit()
    engine.dispose()
    records = list(open_source(f"{url}?from=2026-02-01").records())
    # UK-1 is before the range; UK-3 was voided
    assert [(r.order["id"], r.order["attributes"]["issued_invoice"]) for r in records
            if r.order] == [("O2", "UK-2")]
