"""Where MongoDB is: environment variables MMBENCH_MONGODB_URL, _DATABASE, _WRITE_CONCERN, ...

`url` is any MongoDB connection string, so the same run can point at the local emulator, a
replica set (`mongodb://h1,h2,h3/?replicaSet=rs0`) or Atlas (`mongodb+srv://user:pw@cluster...`).
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MongoSettings(BaseSettings):
    """`write_concern` is the `w` of every write: a number of nodes (`0`, `1`, `2`...) or `majority`
    (unset: what the URL says, else the server's default); `journal` asks for the journal commit
    (`j`); `timeout_ms` bounds server selection and connecting."""

    model_config = SettingsConfigDict(env_prefix="MMBENCH_MONGODB_")
    url: str = "mongodb://127.0.0.1:27017"
    database: str = "mmbench"
    write_concern: str | None = None
    journal: bool | None = None
    timeout_ms: int = 5000

    @field_validator("write_concern")
    @classmethod
    def _valid_w(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is not None and not (value.isdigit() or value == "majority"):
            raise ValueError("must be a number of nodes (0, 1, 2, ...) or 'majority'")
        return value

    def write_concern_options(self) -> dict[str, Any] | None:
        """`w` and `j` for pymongo's WriteConcern; None keeps the client's (the URL's)."""
        if self.write_concern is None and self.journal is None:
            return None
        w = self.write_concern
        return {"w": int(w) if w is not None and w.isdigit() else w, "j": self.journal}
