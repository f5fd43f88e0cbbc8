"""PostgreSQL refuses TRUNCATE of the insert-only tables too.

Their row triggers (0001, 0003) refuse UPDATE and DELETE, but TRUNCATE fires no row trigger:
`TRUNCATE audit_entry` (or `TRUNCATE invoice CASCADE`) would empty the audit log or the issued
documents. A statement trigger refuses it, for every table a TRUNCATE would empty. SQLite has
no TRUNCATE (its `DELETE FROM t` fires the row triggers).
"""

from __future__ import annotations

from alembic import op

revision = "0005_no_truncate"
down_revision = "0004_lz4_documents"

APPEND_ONLY = ("audit_entry", "invoice", "credit_note", "invoice_void", "policy_activation",
               "credit_request", "credit_decision")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY:
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION billplane_append_only()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
