"""Operations and the resources they create or reuse; one live creation per (kind, region, name)."""

import sqlalchemy as sa
from alembic import op

from ack_compute.tools.ledger_migrations.columns import TEXT, TIME, one_of, optional, required

revision = "0002"
down_revision = "0001"

LIVE = sa.text("origin = 'created' AND state IN ('intent', 'creating', 'ready')")


def upgrade() -> None:
    op.create_table(
        "operations",
        sa.Column("operation_id", TEXT, primary_key=True),
        *required(TEXT, "kind"),
        one_of("state", "running", "succeeded", "failed"),
        sa.Column("stage", TEXT, nullable=False, server_default=""),
        sa.Column("progress", sa.Double(), nullable=False, server_default="0"),
        sa.Column("message", TEXT, nullable=False, server_default=""),
        *required(TEXT, "params_json"),
        *optional(TEXT, "result_json", "error", "quote_id"),
        sa.Column("requested_by", TEXT, nullable=False, server_default=""),
        sa.Column("owner_pid", sa.Integer()),
        *required(TIME, "created_at", "updated_at"),
    )
    op.create_table(
        "resources",
        sa.Column("resource_id", sa.Integer(), primary_key=True, autoincrement=True),
        *required(TEXT, "operation_id", "kind", "region", "name"),
        *optional(TEXT, "cloud_id"),
        one_of("origin", "created", "reused"),
        *required(TEXT, "state"),
        *optional(TEXT, "client_token"),
        sa.Column("details_json", TEXT, nullable=False, server_default="{}"),
        *required(TIME, "created_at", "updated_at"),
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
