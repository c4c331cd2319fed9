"""Quotes and their one redemption (a quote pays once: the redemption's primary key says so)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

TEXT, TIME = sa.Text(), sa.Double()


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("quote_id", TEXT, primary_key=True),
        sa.Column("plan_digest", TEXT, nullable=False),
        sa.Column("plan_json", TEXT, nullable=False),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("region", TEXT, nullable=False),
        sa.Column("currency", TEXT, nullable=False),
        sa.Column("hourly", TEXT, nullable=False),
        sa.Column("total", TEXT, nullable=False),
        sa.Column("issued_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
    )
    op.create_table(
        "quote_redemptions",
        sa.Column("quote_id", TEXT, primary_key=True),
        sa.Column("plan_digest", TEXT, nullable=False),
        sa.Column("outcome", TEXT, sa.CheckConstraint("outcome IN ('redeemed', 'declined')"), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("note", TEXT, nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("quote_redemptions")
    op.drop_table("quotes")
