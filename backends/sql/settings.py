"""Where the SQL engines are: environment variables MMBENCH_SQLITE_URL / MMBENCH_POSTGRES_URL."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

from backends.base import state_dir


def default_sqlite_url() -> str:
    return f"sqlite:///{state_dir() / 'sqlite' / 'mmbench.db'}"


class SQLiteSettings(BaseSettings):
    """`url`: a SQLAlchemy URL; `sqlite://` (no path) is an in-memory database."""

    model_config = SettingsConfigDict(env_prefix="MMBENCH_SQLITE_")
    url: str = ""


class PostgresSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MMBENCH_POSTGRES_")
    url: str = "postgresql+psycopg://postgres@127.0.0.1:5432/mmbench"
