"""The active revision as a stored fact every server process follows; commit metadata in the
policy history."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_policy_state"
down_revision = "0001_initial"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "policy_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("activation_id", sa.Integer, sa.ForeignKey("policy_activation.id"),
                  nullable=True),
        sa.Column("revision", sa.String(100), nullable=False, server_default=""),
        sa.Column("digest", sa.String(64), nullable=False, server_default=""),
        sa.Column("source", sa.String(500), nullable=False, server_default=""),
        sa.Column("activated_at", TS, nullable=True),
        sa.Column("head", sa.String(100), nullable=False, server_default=""),
        sa.Column("refused_revision", sa.String(100), nullable=False, server_default=""),
        sa.Column("refused_reason", sa.Text, nullable=False, server_default=""),
        sa.Column("refused_at", TS, nullable=True),
    )
    # the one row; a store upgraded from 0001 starts from its newest activation
    op.execute("INSERT INTO policy_state (id, activation_id, revision, digest, source, "
               "activated_at) SELECT 1, a.id, a.revision, a.digest, a.source, a.activated_at "
               "FROM policy_activation a ORDER BY a.id DESC LIMIT 1")
    op.execute("INSERT INTO policy_state (id) SELECT 1 WHERE NOT EXISTS "
               "(SELECT 1 FROM policy_state)")
    for column in (
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("dirty", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("commit_author", sa.String(300), nullable=False, server_default=""),
        sa.Column("committed_at", TS, nullable=True),
        sa.Column("commit_subject", sa.String(500), nullable=False, server_default=""),
        sa.Column("approvals", sa.Text, nullable=False, server_default="[]"),
    ):
        op.add_column("policy_activation", column)


def downgrade() -> None:
    for name in ("approvals", "commit_subject", "committed_at", "commit_author", "dirty",
                 "reason"):
        op.drop_column("policy_activation", name)
    op.drop_table("policy_state")
