"""Migrations upgrade a store that already holds data (insert-only tables included)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from api.db import MIGRATIONS, Database

T = dt.datetime(2026, 3, 16, 9, 0, tzinfo=dt.UTC)


def _upgrade(db: Database, target: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def test_credit_notes_of_an_existing_store_learn_which_one_settled(database_url: str) -> None:
    db = Database(database_url)
    _upgrade(db, "0002_policy_state")
    with db.write_engine.begin() as conn:
        for i, total in ((1, "36.00"), (2, "36.00")):
            conn.execute(text(
                "INSERT INTO invoice (id, number, series, seq, order_id, customer_id, date, "
                "currency, total, revision, digest, issued_at, actor, order_json, invoice_json)"
                " VALUES (:i, :n, 'T', :i, 'o', 'c', :d, 'GBP', :t, 'r', 'd', :at, 'a', '{}',"
                " '{}')"), {"i": i, "n": f"T-{i}", "d": T.date(), "t": total, "at": T})
        for i, invoice, amount in ((1, 1, "18.00"), (2, 1, "18.00"), (3, 2, "10.00")):
            conn.execute(text(
                "INSERT INTO credit_note (id, number, invoice_id, amount, reason, approved, "
                "created_at, actor) VALUES (:i, :n, :inv, :a, 'r', :f, :at, 'a')"),
                {"i": i, "n": f"CN-{i}", "inv": invoice, "a": amount, "f": False, "at": T})
    db.migrate()
    with db.read() as s:
        settles = s.execute(text("SELECT id, settles FROM credit_note ORDER BY id")).all()
        state = s.execute(text("SELECT id, activation_id FROM policy_state")).all()
    assert [(i, bool(v)) for i, v in settles] == [(1, False), (2, True), (3, False)]
    assert [tuple(r) for r in state] == [(1, None)]
    # still insert-only after the upgrade

    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append_only"), db.write() as s:
        s.execute(text("UPDATE credit_note SET amount = '0.00'"))
    db.dispose()


@pytest.mark.postgres
def test_postgres_stores_documents_with_lz4_and_reads_older_ones(pg_url: str) -> None:
    db = Database(pg_url)
    _upgrade(db, "0003_credit_approvals")
    old = '{"lines": [' + ",".join(['{"sku": "SEAT", "amount": "10.00"}'] * 400) + "]}"
    with db.write_engine.begin() as conn:
        if not conn.execute(text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                 "WHERE name = 'default_toast_compression'")).scalar():
            pytest.skip("this PostgreSQL server has no LZ4 support")
        _insert_invoice(conn, 1, old)
    db.migrate()
    with db.write_engine.begin() as conn:
        _insert_invoice(conn, 2, old.replace("10.00", "12.00"))
        found = conn.execute(text("SELECT id, pg_column_compression(invoice_json), "
                                  "invoice_json FROM invoice ORDER BY id")).all()
    assert [(i, method) for i, method, _ in found] == [(1, "pglz"), (2, "lz4")]
    assert found[0][2] == old and found[1][2] == old.replace("10.00", "12.00")
    db.dispose()


def _insert_invoice(conn: Any, i: int, document: str) -> None:
    conn.execute(text(
        "INSERT INTO invoice (id, number, series, seq, order_id, customer_id, date, currency,"
        " total, revision, digest, issued_at, actor, order_json, invoice_json) VALUES (:i, :n,"
        " 'T', :i, 'o', 'c', :d, 'GBP', '1.00', 'r', 'd', :at, 'a', '{}', :doc)"),
        {"i": i, "n": f"T-{i}", "d": T.date(), "at": T, "doc": document})
