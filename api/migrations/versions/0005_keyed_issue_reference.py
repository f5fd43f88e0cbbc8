"""A remembered issue response names its invoice instead of holding a copy of it.

The response to issuing an invoice is the invoice resource as issued, which the invoice row
already holds (document, number, series, issue time, revision): a key row now names the
invoice (`invoice_number`) and leaves `body` empty, so an issue with an Idempotency-Key no
longer writes the invoice twice while its series counter is locked. Rows stored before keep
their body and replay as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_keyed_issue_reference"
down_revision = "0004_lz4_documents"


def upgrade() -> None:
    op.add_column("idempotency_key", sa.Column("invoice_number", sa.String(100), nullable=True))


def downgrade() -> None:
    # a row that names its invoice holds no body, which an older service could not answer
    # from: such keys are dropped, as if expired (their invoices stay)
    op.execute("DELETE FROM idempotency_key WHERE invoice_number IS NOT NULL")
    with op.batch_alter_table("idempotency_key") as batch:
        batch.drop_column("invoice_number")
