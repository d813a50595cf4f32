"""The cloud hands-on's fixtures (tests/cloud/fixtures.py)."""

from tests.cloud.fixtures import bucket, cloud, glue_db, seed_csv, seed_sqlite, sqlite_file  # noqa: F401
