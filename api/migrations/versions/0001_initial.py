"""Initial store: keys, counters, invoices, credit notes, voids, idempotency, audit, history."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None

TS = sa.DateTime(timezone=True)
# tables that are never updated or deleted: the database itself refuses it
APPEND_ONLY = ("audit_entry", "invoice", "credit_note", "invoice_void", "policy_activation")


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("prefix", sa.String(32), nullable=False, unique=True, index=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "series_counter",
        sa.Column("series", sa.String(100), primary_key=True),
        sa.Column("next_number", sa.Integer, nullable=False),
    )
    op.create_table(
        "invoice",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(100), nullable=False, unique=True, index=True),
        sa.Column("series", sa.String(100), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("order_id", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(100), nullable=False, index=True),
        sa.Column("date", sa.Date, nullable=False, index=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", sa.String(40), nullable=False),
        sa.Column("revision", sa.String(100), nullable=False, index=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("order_json", sa.Text, nullable=False),
        sa.Column("invoice_json", sa.Text, nullable=False),
        sa.UniqueConstraint("series", "seq", name="uq_invoice_series_seq"),
    )
    op.create_table(
        "credit_note",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(100), nullable=False, unique=True),
        sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoice.id"), nullable=False,
                  index=True),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("approved", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_table(
        "invoice_void",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoice.id"), nullable=False,
                  unique=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False, index=True),
        sa.UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),
    )
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(50), nullable=False, index=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("before_digest", sa.String(100), nullable=False),
        sa.Column("after_digest", sa.String(100), nullable=False),
    )
    op.create_table(
        "policy_activation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("activated_at", TS, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION billplane_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'append_only: % is insert-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION billplane_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'append_only: {table} is insert-only'); END"
                )


def downgrade() -> None:
    for table in ("policy_activation", "audit_entry", "idempotency_key", "invoice_void",
                  "credit_note", "invoice", "series_counter", "api_key"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS billplane_append_only()")
