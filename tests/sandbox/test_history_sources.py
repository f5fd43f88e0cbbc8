"""History sources: Online Retail import, JSON Lines, the generator and the invoice store."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from sandbox_repo import TAX, TERMS, branch, replay_on_dask

from api.cli.main import main
from engine.invoice import canonical
from sandbox.engine_port import RealEngine, RevisionSpec
from sandbox.facts import comparable
from sandbox.replay import ReplayConfig, replay
from sandbox.report import build
from sandbox.report_md import render
from sandbox.sources import open_source, pieces
from sandbox.sources.generator import GeneratorSource, load_distributions
from sandbox.sources.store import StoreSource, issue_date

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
    as_of = {r.order["id"]: r.as_of for r in records if r.order}
    assert sorted(orders) == sorted(spec["orders"])
    for oid, exp in (spec.get("expect") or {}).items():
        o = orders[oid]
        assert o["date"] == exp["date"]
        if "as_of" in exp:
            assert as_of[oid] == exp["as_of"]
        if "original" in exp:
            assert {k: v for k, v in o["attributes"].items()
                    if k.startswith("original")} == exp["original"]
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


def test_jsonl_line_may_carry_the_invoice_date(tmp_path: Path) -> None:
    """A line in an evaluate request's shape gives the order and the date it is invoiced as
    of (as `billplane import` writes a credit note linked to its sale); anything else in that
    shape is a bad record, by line."""
    order = {"id": "C1", "date": "2011-01-20"}
    path = tmp_path / "o.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [
        {"order": order, "as_of": "2011-02-03"},
        {"order": order},
        {"order": order, "as_of": "2011-02-30"},
        {"order": order, "as_of": 20110203},
        {"order": order, "as_of": "2011-02-03", "note": "x"},
        {"order": [order]},
    ]) + "\n")
    for records in (list(open_source(str(path)).records()),
                    [r for piece in pieces(open_source(str(path)), 2) for r in piece.records()]):
        assert [(r.line, r.issue.code if r.issue else (r.order["id"], r.as_of))
                for r in records] == [
            (1, ("C1", "2011-02-03")), (2, ("C1", None)), (3, "bad_order"), (4, "bad_order"),
            (5, "bad_order"), (6, "bad_order")]
        assert [r.issue.message for r in records[2:]] == [
            "`as_of` must be a date (YYYY-MM-DD)", "`as_of` must be a date (YYYY-MM-DD)",
            "a line with `order` holds `order` and `as_of` only; it also has 1 other field(s)",
            "`order` must be an order object, got list"]


def test_jsonl_a_key_given_twice_is_a_bad_record(tmp_path: Path) -> None:
    """As the service refuses it (duplicate_key), never the last value silently; a truncated
    last line and a line that is not UTF-8 are bad records too, by line."""
    path = tmp_path / "o.jsonl"
    path.write_bytes(b'{"id": "A", "lines": [{"sku": "X", "quantity": "1", "quantity": "9"}]}\n'
                     b'{"id": "B", "id": "C"}\n'
                     b'{"id": "D", "customer": {"id": "\xe9t\xe9"}}\n'
                     b'{"id": "E"}\n'
                     b'{"id": "F", "lines": [{"sku": "X", "qua')
    records = list(open_source(str(path)).records())
    assert [(r.line, r.issue.code if r.issue else r.order["id"]) for r in records] == [
        (1, "duplicate_key"), (2, "duplicate_key"), (3, "bad_json"), (4, "E"), (5, "bad_json")]
    assert [str(r.issue) for r in records[:3]] == [
        f"{path}:1:53: duplicate_key: key 'quantity' is given twice in one object "
        "(order.lines[0].quantity)",
        f"{path}:2:13: duplicate_key: key 'id' is given twice in one object (order.id)",
        f"{path}:3:1: bad_json: not UTF-8 text (byte 33)"]


def test_a_utf16_history_is_refused_whole(tmp_path: Path, capsys: Any) -> None:
    """PowerShell and Excel write UTF-16 with a byte order mark: the file is refused with
    what to do, not read as bad records, nor some of its lines guessed as UTF-16 orders."""
    from engine.errors import BillplaneError

    order = {"id": "A", "date": "2011-02-01", "currency": "GBP", "seller": "northwind-uk",
             "customer": {"id": "C1", "country": "GB", "type": "consumer"},
             "lines": [{"sku": "RETAIL-GOODS", "quantity": "2", "unit_price": "2.55"}]}
    jsonl = tmp_path / "o.jsonl"
    jsonl.write_bytes("".join(json.dumps(dict(order, id=f"A{i}")) + "\n"
                              for i in range(3)).encode("utf-16"))
    csv = tmp_path / "o.csv"
    csv.write_bytes((DATA / "retail_bad.csv").read_text().encode("utf-16"))
    for path in (jsonl, csv):
        with pytest.raises(BillplaneError) as err:
            list(open_source(str(path)).records())
        [problem] = err.value.diagnostics
        assert (problem.code, problem.location.file) == ("bad_encoding", str(path))
        assert problem.message == (f"{path} is UTF-16 text; order histories must be UTF-8 "
                                   "(convert it, e.g. iconv -f UTF-16 -t UTF-8)")
    assert main(["import", str(csv), "--out", str(tmp_path / "i.jsonl")]) == 1
    assert "bad_encoding" in capsys.readouterr().err
    # a line of UTF-16 among UTF-8 lines is a bad line, never an order; a UTF-8 byte order
    # mark is fine
    line = json.dumps(dict(order, id="B"))
    jsonl.write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\n" + line.encode("utf-16-be")
                      + b"\n")
    records = list(open_source(str(jsonl)).records())
    assert [(r.line, r.issue.code if r.issue else r.order["id"]) for r in records] == [
        (1, "B"), (2, "bad_json")]


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


def test_import_writes_gzip_and_says_when_it_cannot_write(tmp_path: Path, capsys: Any) -> None:
    """`--out orders.jsonl.gz` is a gzip file, as `generate` writes and `replay` reads it."""
    import gzip

    target = tmp_path / "i.jsonl.gz"
    assert main(["import", str(DATA / "retail_bad.csv"), "--out", str(target)]) == 0
    with gzip.open(target, "rt", encoding="utf-8") as handle:
        assert [json.loads(x)["id"] for x in handle] == ["536365", "C536379", "536383"]
    assert [r.order["id"] for r in open_source(str(target)).records() if r.order] == [
        "536365", "C536379", "536383"]
    capsys.readouterr()
    missing = tmp_path / "no-such-folder" / "o.jsonl"
    for argv in (["import", str(DATA / "retail_bad.csv")], ["generate", "--count", "3"]):
        assert main([*argv, "--out", str(missing)]) == 1
        assert capsys.readouterr().err.splitlines()[-1] == (
            f"{missing}: cannot_write: cannot write {missing}: No such file or directory")


def _store_rows(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS invoice_void_sandbox_test"))
        conn.execute(text("DROP TABLE IF EXISTS invoice_sandbox_test"))
        conn.execute(text("CREATE TABLE invoice_sandbox_test (id INTEGER, number VARCHAR(100), "
                          "date DATE, issued_at TIMESTAMP, order_json TEXT)"))
        conn.execute(text("CREATE TABLE invoice_void_sandbox_test (invoice_id INTEGER)"))
        # UK-3 was issued three days after its order date, late in the (UTC) evening
        for n, (number, day, issued) in enumerate((
                ("UK-1", "2026-01-05", "2026-01-05 09:00:00"),
                ("UK-2", "2026-02-05", "2026-02-05 09:00:00"),
                ("UK-3", "2026-03-05", "2026-03-08 23:59:59"),
                ("UK-5", "2026-03-06", "2026-03-06 09:00:00"))):
            order = {"id": f"O-{number}", "date": day, "attributes": {"channel": "web"}}
            conn.execute(text("INSERT INTO invoice_sandbox_test VALUES (:i, :n, :d, :t, :o)"),
                         {"i": n + 1, "n": number, "d": day, "t": issued,
                          "o": json.dumps(order)})
        conn.execute(text("INSERT INTO invoice_sandbox_test VALUES (9, 'UK-4', '2026-02-07', "
                          "'2026-02-07 09:00:00', '{broken')"))
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
    assert [(r.line, r.order["id"] if r.order else r.issue.code, r.as_of) for r in records] == [
        (1, "O-UK-2", "2026-02-05"), (2, "bad_json", None), (3, "O-UK-3", "2026-03-08")]
    assert records[0].order["attributes"] == {"channel": "web", "issued_invoice": "UK-2"}


@pytest.mark.postgres
def test_store_source_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    try:
        _store_rows(url)
    except Exception as exc:  # noqa: BLE001 - any connection failure means: not here
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {type(exc).__name__}")
    records = _read_store(url, monkeypatch)
    assert [(r.order["id"] if r.order else r.issue.code, r.as_of) for r in records] == [
        ("O-UK-2", "2026-02-05"), ("bad_json", None), ("O-UK-3", "2026-03-08")]


def test_store_source_reads_the_service_invoice_table(tmp_path: Path) -> None:
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



# Invoices issued through the service's store on a day after their order date (the service
# evaluates as of the issue date): (order id, order date, issued at UTC, invoice date, due
# date under the test policies' net 30 terms). ISSUED-NEXT-YEAR's order is taxed by its date
# (17.5% in 2010), though it was issued after the 2011-01-04 VAT rise.
ISSUED_LATER = [
    ("ISSUED-LATER", "2011-02-01", "2011-03-02T10:00:00", "2011-03-02", "2011-04-01"),
    ("ISSUED-NEXT-YEAR", "2010-12-20", "2011-01-05T16:30:00", "2011-01-05", "2011-02-04"),
    ("ISSUED-SAME-DAY", "2011-02-10", "2011-02-10T08:00:00", "2011-02-10", "2011-03-12"),
    ("ISSUED-AT-MIDNIGHT", "2011-02-27", "2011-02-28T23:59:59", "2011-02-28", "2011-03-30"),
]


class RecordingEngine(RealEngine):
    """The real engine, keeping the canonical JSON of every document it produces."""

    documents: ClassVar[list[dict[str, Any]]] = []

    def evaluate(self, bundle: Any, order: Any, as_of: str | None = None,
                 trace: bool = True) -> dict[str, Any]:
        doc = super().evaluate(bundle, order, as_of, trace)
        self.documents.append(json.loads(canonical(doc)))
        return doc


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def service_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for the service's tables, on SQLite or PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    psycopg = pytest.importorskip("psycopg")
    admin = "postgresql://postgres@127.0.0.1:5432/test"
    name = "bp_store_" + uuid.uuid4().hex[:12]
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=2) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {type(exc).__name__}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _issue(url: str, repo: Path, ref: str) -> dict[str, dict[str, Any]]:
    """Issue ISSUED_LATER the way the service does; the issued documents by order id."""
    from sqlmodel import Session, SQLModel, create_engine

    from api import issuing
    from api.port import RealEngine as ServiceEngine

    engine = create_engine(url)
    SQLModel.metadata.create_all(engine)
    port = ServiceEngine()
    bundle = port.load_git(repo, ref, "policies")
    issued = {}
    for oid, day, at, _, _ in ISSUED_LATER:
        order = {"id": oid, "date": day, "currency": "GBP", "seller": "northwind-uk",
                 "customer": {"id": "C1", "country": "GB", "type": "consumer"},
                 "lines": [{"sku": "WIDGET", "quantity": "10"}]}
        now = dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC)
        invoice = port.evaluate(bundle, order, issuing.issue_date_of(now).isoformat())
        with Session(engine) as session:
            body = issuing.issue(session, port, bundle, invoice, order, "test", now)
            session.commit()
        issued[oid] = json.loads(body)["invoice"]
    engine.dispose()
    return issued


def _replay(repo: Path, base: str, head: str, url: str, **kw: Any) -> dict[str, Any]:
    return build(replay(ReplayConfig(RevisionSpec(str(repo), base), RevisionSpec(str(repo), head),
                                     url, top_n=100, **kw)))


def test_store_replay_is_as_of_the_issue_date(needs_engine: Any, policy_repo: tuple[Path, str],
                                              service_store: str) -> None:
    repo, base = policy_repo
    issued = _issue(service_store, repo, base)
    RecordingEngine.documents.clear()
    report = _replay(repo, base, base, service_store, prune=False,
                           port=f"{__name__}:RecordingEngine")
    assert (report["counts"]["evaluated"], report["counts"]["changed"]) == (4, 0)
    assert report["largest"] == [] and report["fields"] == []
    replayed = {d["order_id"]: d for d in RecordingEngine.documents}
    assert len(RecordingEngine.documents) == 8 and sorted(replayed) == sorted(issued)
    for oid, _, _, invoice_date, due in ISSUED_LATER:
        doc = replayed[oid]
        assert (doc["invoice_date"], doc["provenance"]["as_of"], doc["payment"]["due_date"]) == (
            invoice_date, invoice_date, due), oid
        # everything but provenance (the decision id covers the tagged order) is as issued
        assert comparable(doc) == comparable(issued[oid]), oid
        assert {e["period"] for e in doc["recognition"]["journal"] if e["entry"] == "invoice"} \
            == {invoice_date[:7]}, oid
    assert replayed["ISSUED-NEXT-YEAR"]["tax_summary"][0]["rate"] == "17.5"


@pytest.mark.parametrize("engine", ["inline", "processes", "dask"])
def test_store_replay_runs_terms_from_the_issue_date_on_every_engine(
        needs_engine: Any, policy_repo: tuple[Path, str], tmp_path: Path, engine: str) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "net-45", {"credit/terms.yaml": TERMS.replace(
        "net_days: 30", "net_days: 45")})
    url = f"sqlite:///{tmp_path / 'service.db'}"
    _issue(url, repo, base)
    if engine == "dask":
        report = build(replay_on_dask(ReplayConfig(
            RevisionSpec(str(repo), base), RevisionSpec(str(repo), head), url, chunk=1)))
    else:
        report = _replay(repo, base, head, url, chunk=1,
                               jobs=2 if engine == "processes" else 1)
    due = {d["order"]: d["fields"]["payment.due_date"] for d in report["largest"]}
    assert due == {oid: [day, (dt.date.fromisoformat(day) + dt.timedelta(days=15)).isoformat(),
                         "+15 days"] for oid, _, _, _, day in ISSUED_LATER}


def test_store_replay_prunes_by_the_order_date(needs_engine: Any, policy_repo: tuple[Path, str],
                                               tmp_path: Path) -> None:
    repo, base = policy_repo
    head = branch(repo, base, "vat-21", {"tax/vat.yaml": TAX.replace("rate: 20,", "rate: 21,")})
    url = f"sqlite:///{tmp_path / 'service.db'}"
    _issue(url, repo, base)
    full = _replay(repo, base, head, url, prune=False)
    pruned = _replay(repo, base, head, url, prune=True)
    # taxed by the order date: the 2010 order issued after the rise keeps 17.5% on both sides
    changed = ["ISSUED-AT-MIDNIGHT", "ISSUED-LATER", "ISSUED-SAME-DAY"]
    assert sorted(d["order"] for d in full["largest"]) == changed
    assert pruned["largest"] == full["largest"]
    assert (pruned["counts"]["skipped"], full["counts"]["skipped"]) == (1, 0)
    # each invoice counts in the month it was issued in: ISSUED-LATER, ordered in February,
    # in March
    assert pruned["by_month"] == full["by_month"]
    assert {p["period"] for p in full["by_month"]} == {"2011-02", "2011-03"}
    later = next(d for d in full["largest"] if d["order"] == "ISSUED-LATER")
    assert (later["date"], later["invoice_date"]) == ("2011-02-01", "2011-03-02")
    assert "| ISSUED-LATER | 2011-03-02 (order 2011-02-01) | C1 |" in render(full)


@pytest.mark.parametrize(("issued_at", "day"), [
    (dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.UTC), "2026-03-01"),
    (dt.datetime(2026, 3, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))), "2026-03-02"),
    (dt.datetime(2026, 3, 1, 23, 30), "2026-03-01"),  # no zone: stored as UTC
    ("2026-03-01 23:30:00.000000", "2026-03-01"),  # SQLite's text
    ("2026-03-01 23:30:00+01:00", "2026-03-01"),
    ("yesterday", None),
    (None, None),
    (dt.date(2026, 3, 1), None),
])
def test_issue_date_is_the_utc_day_of_issue(issued_at: Any, day: str | None) -> None:
    assert issue_date(issued_at) == day


def test_an_unreadable_issue_time_is_a_bad_record() -> None:
    rec = StoreSource("sqlite://")._record(3, "UK-9", "soon", json.dumps({"id": "O9"}))
    assert (rec.order, rec.as_of, rec.issue and rec.issue.code) == (None, None, "bad_invoice")
    assert rec.issue.location.file == "sqlite://#invoice/UK-9"
