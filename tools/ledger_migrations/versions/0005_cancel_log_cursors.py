"""Cancellation (a cancelled operation keeps state 'failed' with outcome 'cancelled', so every check of "did it
fail" still holds) and each caller's cursor into a running job's log."""

import sqlalchemy as sa
from alembic import op

from ack_compute.tools.ledger_migrations.columns import TEXT, required

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("operations", sa.Column("cancel_requested_by", TEXT))
    op.add_column("operations", sa.Column("outcome", TEXT))
    op.create_table(
        "log_cursors",
        sa.Column("operation_id", TEXT, primary_key=True),
        sa.Column("caller", TEXT, primary_key=True),
        *required(TEXT, "pod"),
        *required(sa.Integer(), "lines"),
    )


def downgrade() -> None:
    op.drop_table("log_cursors")
    op.drop_column("operations", "outcome")
    op.drop_column("operations", "cancel_requested_by")
