"""The insert-only tables refuse TRUNCATE in the database itself, as they refuse UPDATE and
DELETE (tests/api/test_api_corrections.py, test_api_migrations.py): the service has no such
path, and a mistaken or hostile session on the database must not empty the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from api.db import Database

APPEND_ONLY = ("audit_entry", "invoice", "credit_note", "invoice_void", "policy_activation",
               "credit_request", "credit_decision")


@pytest.mark.postgres
@pytest.mark.parametrize("table", APPEND_ONLY)
def test_postgres_refuses_truncate(pg_url: str, table: str) -> None:
    db = Database(pg_url)
    db.migrate()
    try:
        with db.write() as s:
            s.execute(text("INSERT INTO audit_entry (at, actor, action, subject, reason,"
                           " before_digest, after_digest) VALUES (now(), 'a', 'activation',"
                           " 's', '', '', '')"))
        # CASCADE: a table other tables refer to would be refused for that alone
        with pytest.raises(DBAPIError, match="append_only"), db.write() as s:
            s.execute(text(f"TRUNCATE {table} CASCADE"))
        with db.read() as s:
            assert s.execute(text("SELECT count(*) FROM audit_entry")).scalar() == 1
    finally:
        db.dispose()
