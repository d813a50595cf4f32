"""Where Neo4j is and how long to wait for it: environment variables MMBENCH_NEO4J_*.

    MMBENCH_NEO4J_URL              a Bolt URL (default bolt://127.0.0.1:7687, the local engine);
                                   neo4j+s://... for Aura or a cluster
    MMBENCH_NEO4J_USER / _PASSWORD credentials (default: none; the local engine runs with auth off)
    MMBENCH_NEO4J_DATABASE         default neo4j (Community has this one user database; mmbench's
                                   namespaces live inside it as label scopes)
    MMBENCH_NEO4J_CONNECT_TIMEOUT  seconds to open a connection or take one from the pool (5)
    MMBENCH_NEO4J_QUERY_TIMEOUT    seconds any one transaction may run on the server (60)
    MMBENCH_NEO4J_RETRY_TIME       seconds the driver keeps retrying a transient failure (15)
    MMBENCH_NEO4J_LOAD_TIMEOUT     seconds a load may hold its namespace (21600): the lock
                                   transaction of a load, and its batched deletes

Every driver call is bounded by one of these; a dead server is also noticed within the
120 s receive timeout the server advertises to the driver (`connection.recv_timeout_seconds`).
Settings may also be passed as a `Neo4jSettings(...)` object (config).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from backends.base import BackendError, redact_url

BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


class Neo4jSettings(BaseSettings):
    """`user` empty means no authentication (the local engine runs with auth disabled)."""

    model_config = SettingsConfigDict(env_prefix="MMBENCH_NEO4J_")
    url: str = "bolt://127.0.0.1:7687"
    user: str = ""
    password: SecretStr = SecretStr("")
    database: str = Field("neo4j", min_length=1, max_length=63)
    connect_timeout: float = Field(5.0, gt=0)
    query_timeout: float = Field(60.0, gt=0)
    retry_time: float = Field(15.0, ge=0)
    load_timeout: float = Field(21600.0, gt=0)
    load_lease: float = Field(30.0, ge=1)
    """Seconds after which a load that stopped refreshing its lease (its process died) may be taken
    over by the next load of the namespace."""

    @field_validator("url")
    @classmethod
    def _bolt_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in BOLT_SCHEMES:
            raise ValueError(f"{redact_url(value)!r} is not a Bolt URL; use one of "
                             f"{', '.join(s + '://' for s in BOLT_SCHEMES)}")
        return value

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password.get_secret_value()) if self.user else None

    @classmethod
    def from_env(cls) -> Neo4jSettings:
        """The settings of the environment; a bad one as one line naming its variable."""
        try:
            return cls()
        except ValidationError as exc:
            err = exc.errors()[0]
            name = "MMBENCH_NEO4J_" + "".join(str(part) for part in err["loc"]).upper()
            raise BackendError(f"neo4j: invalid setting {name}: {err['msg'].removeprefix('Value error, ')}") from None
