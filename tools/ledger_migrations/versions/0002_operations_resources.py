"""Operations and the resources they create or reuse; one live creation per (kind, region, name)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

TEXT, TIME = sa.Text(), sa.Double()
LIVE = sa.text("origin = 'created' AND state IN ('intent', 'creating', 'ready')")


def upgrade() -> None:
    op.create_table(
        "operations",
        sa.Column("operation_id", TEXT, primary_key=True),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("state", TEXT, sa.CheckConstraint("state IN ('running', 'succeeded', 'failed')"), nullable=False),
        sa.Column("stage", TEXT, nullable=False, server_default=""),
        sa.Column("progress", sa.Double(), nullable=False, server_default="0"),
        sa.Column("message", TEXT, nullable=False, server_default=""),
        sa.Column("params_json", TEXT, nullable=False),
        sa.Column("result_json", TEXT),
        sa.Column("error", TEXT),
        sa.Column("quote_id", TEXT),
        sa.Column("requested_by", TEXT, nullable=False, server_default=""),
        sa.Column("owner_pid", sa.Integer()),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_table(
        "resources",
        sa.Column("resource_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("operation_id", TEXT, nullable=False),
        sa.Column("kind", TEXT, nullable=False),
        sa.Column("region", TEXT, nullable=False),
        sa.Column("name", TEXT, nullable=False),
        sa.Column("cloud_id", TEXT),
        sa.Column("origin", TEXT, sa.CheckConstraint("origin IN ('created', 'reused')"), nullable=False),
        sa.Column("state", TEXT, nullable=False),
        sa.Column("client_token", TEXT),
        sa.Column("details_json", TEXT, nullable=False, server_default="{}"),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sqlite_autoincrement=True,  # ids are never reused, as the shipped schema had it
    )
    op.create_index(
        "one_live_creation_per_name",
        "resources",
        ["kind", "region", "name"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    op.create_index("resources_by_cloud_id", "resources", ["cloud_id"])


def downgrade() -> None:
    op.drop_table("resources")
    op.drop_table("operations")
