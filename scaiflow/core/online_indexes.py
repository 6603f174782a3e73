"""Index operations for migrations that run against a live database.

On PostgreSQL an index is built and dropped CONCURRENTLY, so writes to a table of millions of
rows are not blocked meanwhile (the migration must say `atomic = False`). Other databases
(SQLite in development and tests) get the plain operation.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db.migrations.operations import AddIndex, RemoveIndex


def _concurrently(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"


class AddIndexOnline(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        base = AddIndexConcurrently if _concurrently(schema_editor) else AddIndex
        base.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        base = AddIndexConcurrently if _concurrently(schema_editor) else AddIndex
        base.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexOnline(RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        base = RemoveIndexConcurrently if _concurrently(schema_editor) else RemoveIndex
        base.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        base = RemoveIndexConcurrently if _concurrently(schema_editor) else RemoveIndex
        base.database_backwards(self, app_label, schema_editor, from_state, to_state)
