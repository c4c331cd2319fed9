"""The quote that pays for a resource (its hourly price counts against the caps while the row is live), and the
person's answers: a purchase goes ahead only on an answer recorded here, never on one inferred."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

TEXT = sa.Text()


def upgrade() -> None:
    op.add_column("resources", sa.Column("quote_id", TEXT))
    op.create_table(
        "consents",
        sa.Column("consent_id", TEXT, primary_key=True),
        sa.Column("quote_id", TEXT, nullable=False),
        sa.Column("caller", TEXT, nullable=False),
        sa.Column("plan_digest", TEXT, nullable=False),
        sa.Column(
            "answer", TEXT, sa.CheckConstraint("answer IN ('accepted', 'declined', 'not_asked')"), nullable=False
        ),
        sa.Column("how", TEXT, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("consents")
    op.drop_column("resources", "quote_id")
