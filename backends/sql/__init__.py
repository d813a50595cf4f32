"""The relational model (SQLite, PostgreSQL); see backend.py and schema.py."""
