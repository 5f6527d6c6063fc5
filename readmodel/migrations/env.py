"""Run by Alembic inside `readmodel.tables.migrate`, on the connection it is handed."""

from alembic import context

from readmodel.tables import metadata

connection = context.config.attributes["connection"]
# SQLite alters a table by copying it: batch mode does that for every change.
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
