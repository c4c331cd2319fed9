"""The quote that pays for a resource (its hourly price counts against the caps while the row is live), and the
person's answers: a purchase goes ahead only on an answer recorded here, never on one inferred."""

import sqlalchemy as sa
from alembic import op

from ack_compute.tools.ledger_migrations.columns import TEXT, TIME, one_of, required

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("resources", sa.Column("quote_id", TEXT))
    op.create_table(
        "consents",
        sa.Column("consent_id", TEXT, primary_key=True),
        *required(TEXT, "quote_id", "caller", "plan_digest"),
        one_of("answer", "accepted", "declined", "not_asked"),
        *required(TEXT, "how"),
        *required(TIME, "at"),
    )


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_column("resources", "quote_id")
