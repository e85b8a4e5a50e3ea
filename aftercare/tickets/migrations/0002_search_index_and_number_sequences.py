"""Database-specific pieces: the search index over ticket tokens and the per-year number
sequences on PostgreSQL. Django's schema editor has no portable form for either."""

from django.db import migrations

SQLITE_FORWARD = [
    # External-content FTS5 table over TicketSearchDocument.tokens; rowid = ticket id.
    "CREATE VIRTUAL TABLE tickets_search_fts USING fts5("
    " tokens, content='tickets_ticketsearchdocument', content_rowid='ticket_id',"
    " tokenize=\"unicode61 remove_diacritics 0 tokenchars '0123456789'\")",
    "CREATE TRIGGER tickets_search_ai AFTER INSERT ON tickets_ticketsearchdocument BEGIN"
    " INSERT INTO tickets_search_fts(rowid, tokens) VALUES (new.ticket_id, new.tokens); END",
    "CREATE TRIGGER tickets_search_ad AFTER DELETE ON tickets_ticketsearchdocument BEGIN"
    " INSERT INTO tickets_search_fts(tickets_search_fts, rowid, tokens)"
    " VALUES ('delete', old.ticket_id, old.tokens); END",
    "CREATE TRIGGER tickets_search_au AFTER UPDATE ON tickets_ticketsearchdocument BEGIN"
    " INSERT INTO tickets_search_fts(tickets_search_fts, rowid, tokens)"
    " VALUES ('delete', old.ticket_id, old.tokens);"
    " INSERT INTO tickets_search_fts(rowid, tokens) VALUES (new.ticket_id, new.tokens); END",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS tickets_search_au",
    "DROP TRIGGER IF EXISTS tickets_search_ad",
    "DROP TRIGGER IF EXISTS tickets_search_ai",
    "DROP TABLE IF EXISTS tickets_search_fts",
]
POSTGRES_FORWARD = [
    "CREATE INDEX tickets_search_gin ON tickets_ticketsearchdocument"
    " USING gin (array_to_tsvector(string_to_array(tokens, ' ')))",
    *[f"CREATE SEQUENCE IF NOT EXISTS ticket_number_{year}" for year in range(2000, 2101)],
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS tickets_search_gin",
    *[f"DROP SEQUENCE IF EXISTS ticket_number_{year}" for year in range(2000, 2101)],
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}.get(vendor)
    if statements is None:
        raise RuntimeError(f"AfterCare supports SQLite and PostgreSQL, not {vendor}")
    for statement in statements:
        schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}[vendor]:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
