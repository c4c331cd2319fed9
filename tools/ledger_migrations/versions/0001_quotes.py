"""Quotes and their one redemption (a quote pays once: the redemption's primary key says so)."""

import sqlalchemy as sa
from alembic import op

from ack_compute.tools.ledger_migrations.columns import TEXT, TIME, one_of, required

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("quote_id", TEXT, primary_key=True),
        *required(TEXT, "plan_digest", "plan_json", "kind", "region", "currency", "hourly", "total"),
        *required(TIME, "issued_at", "expires_at"),
    )
    op.create_table(
        "quote_redemptions",
        sa.Column("quote_id", TEXT, primary_key=True),
        *required(TEXT, "plan_digest"),
        one_of("outcome", "redeemed", "declined"),
        *required(TIME, "at"),
        sa.Column("note", TEXT, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("quote_redemptions")
    op.drop_table("quotes")
