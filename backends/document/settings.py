"""Where MongoDB is: environment variables MMBENCH_MONGODB_URL, _DATABASE, _WRITE_CONCERN, ...

`url` is any MongoDB connection string, so the same run can point at the local emulator, a
real server (`docker compose up -d mongodb`), a replica set (`mongodb://h1,h2,h3/?replicaSet=rs0`)
or Atlas (`mongodb+srv://user:pw@cluster0.example.mongodb.net/`). Both designs (`mongodb`,
`mongodb:referenced`) read these settings; each keeps its own database (backends/document/store.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MongoSettings(BaseSettings):
    """`database` is the base name of the databases mmbench creates (namespaced, see store.py).
    `write_concern` is the `w` of every write: a number of nodes (`0`, `1`, `2`...) or `majority`
    (unset: what the URL says, else the server's default); `journal` asks for the journal commit
    (`j`). Timeouts, so that no driver call can hang: `timeout_ms` bounds server selection and
    connecting, `socket_timeout_ms` every wait for a reply (a query, a batch of a load)."""

    model_config = SettingsConfigDict(env_prefix="MMBENCH_MONGODB_")
    url: str = "mongodb://127.0.0.1:27017"
    database: str = "mmbench"
    write_concern: str | None = None
    journal: bool | None = None
    timeout_ms: int = Field(5000, gt=0)
    socket_timeout_ms: int = Field(120_000, gt=0)

    @field_validator("write_concern")
    @classmethod
    def _valid_w(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is not None and not (value.isdigit() or value == "majority"):
            raise ValueError("must be a number of nodes (0, 1, 2, ...) or 'majority'")
        return value

    @field_validator("database")
    @classmethod
    def _valid_database(cls, value: str) -> str:
        if not value or any(c in value for c in '/\\. "$*<>:|?\0') or len(value) > 27:
            raise ValueError("must be 1 to 27 characters without / \\ . space \" $ * < > : | ?")
        return value

    def write_concern_options(self) -> dict[str, Any] | None:
        """`w` and `j` for pymongo's WriteConcern; None keeps the client's (the URL's)."""
        if self.write_concern is None and self.journal is None:
            return None
        w = self.write_concern
        return {"w": int(w) if w is not None and w.isdigit() else w, "j": self.journal}

    def client_options(self) -> dict[str, Any]:
        """MongoClient keyword arguments: every wait bounded (server selection, connecting, each
        reply, a pooled connection)."""
        return {"serverSelectionTimeoutMS": self.timeout_ms, "connectTimeoutMS": self.timeout_ms,
                "socketTimeoutMS": self.socket_timeout_ms, "waitQueueTimeoutMS": self.timeout_ms}
