"""Facts every server on one ledger must agree on, kept in the ledger itself: today the fingerprint of the quote
secret (a replica with another secret would refuse its peers' quote tokens and answer rounds behind the same load
balancer, so it refuses to start instead)."""

import sqlalchemy as sa
from alembic import op

from ack_compute.tools.ledger_migrations.columns import TEXT, TIME, required

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "ledger_facts",
        sa.Column("name", TEXT, primary_key=True),
        *required(TEXT, "value"),
        *required(TIME, "updated_at"),
    )


def downgrade() -> None:
    op.drop_table("ledger_facts")
