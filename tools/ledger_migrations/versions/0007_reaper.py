"""The reaper's bookkeeping on a lease: which process is ending it (a crash between taking the lease and starting
its cleanup is seen by that process being gone), how many times ending it failed, and when it may be tried again
(a failed delete is retried with a growing wait, never in a tight loop)."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column("leases", sa.Column("ender_pid", sa.Integer()))
    op.add_column("leases", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("leases", sa.Column("retry_at", sa.Double()))


def downgrade() -> None:
    for column in ("retry_at", "attempts", "ender_pid"):
        op.drop_column("leases", column)
