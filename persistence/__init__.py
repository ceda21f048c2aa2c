"""The journal (SQLite through apsw), its projections, migrations and backups."""
