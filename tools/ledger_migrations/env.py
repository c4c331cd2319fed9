"""Alembic's entry: always handed the ledger's open connection, inside the transaction that holds the write lock."""

from alembic import context

conn = context.config.attributes["connection"]
context.configure(connection=conn, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
