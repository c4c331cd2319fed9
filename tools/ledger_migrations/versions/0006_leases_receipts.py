"""Leases (what a quote's hours bound: one per purchased row; an extension moves `ends_at`) and receipts, the
append-only record of every consent, purchase, extension and lease end: the database itself refuses to change or
remove one (a trigger on each dialect), so no code path can rewrite what was paid."""

import sqlalchemy as sa
from alembic import op

from ack_compute.tools.ledger_migrations.columns import TEXT, TIME, one_of, optional, required

revision = "0006"
down_revision = "0005"

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
        *required(TEXT, "operation_id", "quote_id", "owner", "currency", "hourly"),
        *required(TIME, "starts_at", "ends_at"),
        one_of("state", "active", "ending", "ended", "released"),
        *optional(TIME, "ended_at"),
        *optional(TEXT, "end_operation_id"),
        sa.Column("note", TEXT, nullable=False, server_default=""),
    )
    op.create_index("leases_due", "leases", ["state", "ends_at"])
    op.create_index("leases_by_owner", "leases", ["owner", "state"])
    op.create_table(
        "lease_extensions",
        sa.Column("quote_id", TEXT, primary_key=True),
        *required(sa.Integer(), "resource_id"),
        *required(sa.Double(), "hours"),
        *required(TIME, "old_ends_at", "new_ends_at", "at"),
    )
    op.create_table(
        "receipts",
        sa.Column("receipt_id", sa.Integer(), primary_key=True, autoincrement=True),
        *required(TIME, "at"),
        *required(TEXT, "event", "caller"),
        *optional(TEXT, "quote_id", "operation_id"),
        *optional(sa.Integer(), "resource_id"),
        *required(TEXT, "body_json"),
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
