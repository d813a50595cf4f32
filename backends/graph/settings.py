"""Where Neo4j is: environment variables MMBENCH_NEO4J_URL, _USER, _PASSWORD, _DATABASE.

Defaults are the local engine (`mmbench up neo4j`): bolt://127.0.0.1:7687 with auth off,
database `neo4j`. For Neo4j Aura or a cluster use a `neo4j+s://` URL and set user/password.
"""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Neo4jSettings(BaseSettings):
    """`user` empty means no authentication (the local engine runs with auth disabled)."""

    model_config = SettingsConfigDict(env_prefix="MMBENCH_NEO4J_")
    url: str = "bolt://127.0.0.1:7687"
    user: str = ""
    password: SecretStr = SecretStr("")
    database: str = "neo4j"
    connect_timeout: float = 5.0

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password.get_secret_value()) if self.user else None
