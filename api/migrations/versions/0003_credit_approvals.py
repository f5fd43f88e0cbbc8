"""Credit notes with their net/tax split and whether they settle the invoice; credit note
requests waiting for another principal's approval, and the decisions on them."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = "0003_credit_approvals"
down_revision = "0002_policy_state"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credit_request",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("invoice_id", sa.Integer, sa.ForeignKey("invoice.id"), nullable=False,
                  index=True),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requester_key", sa.Integer, nullable=False),
        sa.Column("requested_at", TS, nullable=False),
    )
    op.create_table(
        "credit_decision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("request_id", sa.Integer, sa.ForeignKey("credit_request.id"),
                  nullable=False, unique=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
    )
    for column in (
        sa.Column("net", sa.String(40), nullable=False, server_default=""),
        sa.Column("tax", sa.String(40), nullable=False, server_default=""),
        sa.Column("tax_lines", sa.Text, nullable=False, server_default="[]"),
        sa.Column("settles", sa.Boolean, nullable=False, server_default=sa.false()),
        # the request a credit note was approved from (credit_request.id)
        sa.Column("request_id", sa.Integer, nullable=True),
        sa.Column("approved_by", sa.String(200), nullable=False, server_default=""),
    ):
        op.add_column("credit_note", column)
    _backfill_settles()
    if op.get_bind().dialect.name == "postgresql":
        for table in ("credit_request", "credit_decision"):
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION billplane_append_only()")
    else:
        for table in ("credit_request", "credit_decision"):
            for event in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON "
                           f"{table} BEGIN SELECT RAISE(ABORT, 'append_only: {table} is "
                           "insert-only'); END")


def _backfill_settles() -> None:
    """Mark the credit note that brought an existing invoice to fully credited (the table is
    insert-only, so its trigger is set aside for this one update)."""
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT n.id, n.invoice_id, n.amount, i.total FROM credit_note n "
        "JOIN invoice i ON i.id = n.invoice_id ORDER BY n.invoice_id, n.id")).fetchall()
    settling, credited, current = [], Decimal(0), None
    for note_id, invoice_id, amount, total in rows:
        if invoice_id != current:
            current, credited = invoice_id, Decimal(0)
        credited += Decimal(amount)
        if credited == Decimal(total):
            settling.append(note_id)
    if not settling:
        return
    pg = bind.dialect.name == "postgresql"
    if pg:
        op.execute("ALTER TABLE credit_note DISABLE TRIGGER credit_note_append_only")
    else:
        op.execute("DROP TRIGGER credit_note_no_update")
    for note_id in settling:
        bind.execute(sa.text("UPDATE credit_note SET settles = :t WHERE id = :i"),
                     {"t": True, "i": note_id})
    if pg:
        op.execute("ALTER TABLE credit_note ENABLE TRIGGER credit_note_append_only")
    else:
        op.execute("CREATE TRIGGER credit_note_no_update BEFORE UPDATE ON credit_note BEGIN "
                   "SELECT RAISE(ABORT, 'append_only: credit_note is insert-only'); END")


def downgrade() -> None:
    for name in ("approved_by", "request_id", "settles", "tax_lines", "tax", "net"):
        op.drop_column("credit_note", name)
    op.drop_table("credit_decision")
    op.drop_table("credit_request")
