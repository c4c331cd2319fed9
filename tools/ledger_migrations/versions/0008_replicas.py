"""Several replicas on one ledger (tools/replicas.py): pids mean nothing across machines, so work is held by a
replica (a random id per process start) until `held_until`, renewed by its heartbeat and taken over by a
compare-and-set once it lapses. `replicas` names each replica for people (host, pid) and lets a replica on the same
machine see at once that a holder's process is gone; `singletons` holds once-only work (the reaper's look, resuming
what nobody holds). A lease being ended is held the same way (`ender`, `ender_until`)."""

import sqlalchemy as sa
from alembic import op

from ack_compute.tools.ledger_migrations.columns import TEXT, TIME, required

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.add_column("operations", sa.Column("holder", TEXT))
    op.add_column("operations", sa.Column("held_until", TIME))
    op.create_index("operations_by_state", "operations", ["state", "kind"])
    op.add_column("leases", sa.Column("ender", TEXT))
    op.add_column("leases", sa.Column("ender_until", TIME))
    op.create_table(
        "replicas",
        sa.Column("replica_id", TEXT, primary_key=True),
        *required(TEXT, "hostname"),
        *required(sa.Integer(), "pid"),
        *required(TEXT, "machine"),
        *required(TIME, "started_at"),
    )
    op.create_table(
        "singletons",
        sa.Column("name", TEXT, primary_key=True),
        *required(TEXT, "holder"),
        *required(TIME, "held_until"),
    )


def downgrade() -> None:
    op.drop_table("singletons")
    op.drop_table("replicas")
    op.drop_column("leases", "ender_until")
    op.drop_column("leases", "ender")
    op.drop_index("operations_by_state", "operations")
    op.drop_column("operations", "held_until")
    op.drop_column("operations", "holder")
