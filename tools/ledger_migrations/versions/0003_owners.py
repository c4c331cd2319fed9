"""Who owns each quote, operation and resource (the caller's subject; admin operations see every owner)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("quotes", sa.Column("owner", sa.Text(), nullable=False, server_default=""))
    op.add_column("operations", sa.Column("owner", sa.Text(), nullable=False, server_default=""))
    op.add_column("operations", sa.Column("owner_admin", sa.Integer(), nullable=False, server_default="1"))
    op.add_column("resources", sa.Column("owner", sa.Text(), nullable=False, server_default=""))
    op.create_index("resources_by_owner", "resources", ["owner"])


def downgrade() -> None:
    op.drop_index("resources_by_owner", "resources")
    for table in ("resources", "operations", "quotes"):
        op.drop_column(table, "owner")
    op.drop_column("operations", "owner_admin")
