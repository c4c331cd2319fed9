"""Leases (what a quote's hours bound: one per purchased row; an extension moves `ends_at`) and receipts, the
append-only record of every consent, purchase, extension and lease end: the database itself refuses to change or
remove one (a trigger on each dialect), so no code path can rewrite what was paid."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

TEXT, TIME = sa.Text(), sa.Double()

SQLITE_GUARDS = [
    "CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts"
    " BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END",
    "CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts"
    " BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END",
]
POSTGRESQL_GUARDS = [
    "CREATE FUNCTION receipts_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    " $$ BEGIN RAISE EXCEPTION 'receipts are append-only' USING ERRCODE = 'integrity_constraint_violation'; END $$",
    "CREATE TRIGGER receipts_no_update BEFORE UPDATE OR DELETE ON receipts"
    " FOR EACH ROW EXECUTE FUNCTION receipts_append_only()",
    "CREATE TRIGGER receipts_no_truncate BEFORE TRUNCATE ON receipts"
    " FOR EACH STATEMENT EXECUTE FUNCTION receipts_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("resource_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("operation_id", TEXT, nullable=False),
        sa.Column("quote_id", TEXT, nullable=False),
        sa.Column("owner", TEXT, nullable=False),
        sa.Column("currency", TEXT, nullable=False),
        sa.Column("hourly", TEXT, nullable=False),
        sa.Column("starts_at", TIME, nullable=False),
        sa.Column("ends_at", TIME, nullable=False),
        sa.Column(
            "state", TEXT, sa.CheckConstraint("state IN ('active', 'ending', 'ended', 'released')"), nullable=False
        ),
        sa.Column("ended_at", TIME),
        sa.Column("end_operation_id", TEXT),
        sa.Column("note", TEXT, nullable=False, server_default=""),
    )
    op.create_index("leases_due", "leases", ["state", "ends_at"])
    op.create_index("leases_by_owner", "leases", ["owner", "state"])
    op.create_table(
        "lease_extensions",
        sa.Column("quote_id", TEXT, primary_key=True),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("hours", sa.Double(), nullable=False),
        sa.Column("old_ends_at", TIME, nullable=False),
        sa.Column("new_ends_at", TIME, nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    op.create_table(
        "receipts",
        sa.Column("receipt_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("event", TEXT, nullable=False),
        sa.Column("caller", TEXT, nullable=False),
        sa.Column("quote_id", TEXT),
        sa.Column("operation_id", TEXT),
        sa.Column("resource_id", sa.Integer()),
        sa.Column("body_json", TEXT, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("receipts_by_time", "receipts", ["at"])
    for statement in POSTGRESQL_GUARDS if op.get_bind().dialect.name == "postgresql" else SQLITE_GUARDS:
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("receipts")  # its triggers go with it
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION receipts_append_only()")
    op.drop_table("lease_extensions")
    op.drop_table("leases")
