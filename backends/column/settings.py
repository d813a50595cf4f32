"""Where Cassandra is and how to use it: environment variables MMBENCH_CASSANDRA_*.

    MMBENCH_CASSANDRA_CONTACT_POINTS   comma-separated hosts (default 127.0.0.1; a real cluster: several)
    MMBENCH_CASSANDRA_PORT             CQL native port (default 9042)
    MMBENCH_CASSANDRA_KEYSPACE         the base of the keyspace names (default mmbench; the namespace is appended)
    MMBENCH_CASSANDRA_REPLICATION      SimpleStrategy (default) or NetworkTopologyStrategy
    MMBENCH_CASSANDRA_REPLICATION_FACTOR   SimpleStrategy's factor (default: the number of nodes, at most 3)
    MMBENCH_CASSANDRA_DATACENTERS      NetworkTopologyStrategy's factors, e.g. dc1:3,dc2:3
    MMBENCH_CASSANDRA_LOCAL_DC         the data center the driver prefers (default: the contact point's)
    MMBENCH_CASSANDRA_READ_CONSISTENCY   consistency level of reads: ONE, QUORUM, ALL, LOCAL_QUORUM, LOCAL_ONE...
    MMBENCH_CASSANDRA_WRITE_CONSISTENCY  consistency level of writes (same names)
    MMBENCH_CASSANDRA_CONSISTENCY      both at once, where the two above are not given (default LOCAL_ONE)
    MMBENCH_CASSANDRA_USERNAME / _PASSWORD   PasswordAuthenticator credentials (default: none)
    MMBENCH_CASSANDRA_PROTOCOL_VERSION 5 (default; 4 for Cassandra 3.x)
    MMBENCH_CASSANDRA_CONNECT_TIMEOUT / _REQUEST_TIMEOUT   seconds (5 and 60): every driver call is bounded

The consistency levels and the replication go into every results file (`EngineInfo.options`):
with one node they change nothing, on a ring they decide which requests survive a node failing
and how many replicas answer each one. Settings may also be passed as a `CassandraSettings(...)`.
"""

from __future__ import annotations

import re
from typing import Literal

from cassandra import ConsistencyLevel
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,15}")
_DC_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
DEFAULT_CONSISTENCY = "LOCAL_ONE"
MAX_DEFAULT_RF = 3
"""The replication factor that follows the node count stops here (3 copies is Cassandra's usual
production choice; more only costs writes)."""


def _level(value: str | None) -> str | None:
    if value is None:
        return None
    name = value.strip().upper()
    if name not in ConsistencyLevel.name_to_value:
        raise ValueError(f"one of {', '.join(ConsistencyLevel.name_to_value)}")
    return name


class CassandraSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MMBENCH_CASSANDRA_")

    contact_points: str = "127.0.0.1"
    port: int = Field(9042, ge=1, le=65535)
    keyspace: str = "mmbench"
    """The base name: the namespace's keyspace is `<keyspace>[_<namespace>]`, its data generations
    `<that>_g<n>` (Cassandra allows 48 characters, hence at most 16 here)."""
    replication: Literal["SimpleStrategy", "NetworkTopologyStrategy"] = "SimpleStrategy"
    replication_factor: int | None = Field(None, ge=1)
    """SimpleStrategy's factor; None follows the cluster: min(nodes, 3)."""
    datacenters: str = ""
    local_dc: str | None = None
    consistency: str = DEFAULT_CONSISTENCY
    read_consistency: str | None = None
    write_consistency: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    protocol_version: int = Field(5, ge=3, le=5)
    """CQL native protocol (5 for Cassandra 4 and 5; naming it saves a downgrade handshake)."""
    connect_timeout: float = Field(5.0, gt=0)
    request_timeout: float = Field(60.0, gt=0)
    concurrency: int = Field(64, ge=1, le=1024)
    """Requests in flight at once for bulk loads and multi-partition reads."""

    @field_validator("keyspace")
    @classmethod
    def _keyspace(cls, value: str) -> str:
        if not _IDENTIFIER.fullmatch(value):
            raise ValueError("a keyspace base name is a letter, then up to 15 letters, digits or _")
        return value.lower()

    @field_validator("consistency")
    @classmethod
    def _consistency(cls, value: str) -> str:
        return _level(value) or DEFAULT_CONSISTENCY

    @field_validator("read_consistency", "write_consistency")
    @classmethod
    def _consistencies(cls, value: str | None) -> str | None:
        return _level(value)

    @field_validator("datacenters")
    @classmethod
    def _datacenters(cls, value: str) -> str:
        for item in filter(None, (s.strip() for s in value.split(","))):
            name, sep, factor = item.partition(":")
            if not sep or not _DC_NAME.fullmatch(name.strip()) or not factor.strip().isdigit():
                raise ValueError(f"expected dc:factor[,dc:factor...], got {item!r}")
        return value

    @model_validator(mode="after")
    def _strategy(self) -> CassandraSettings:
        if self.replication == "NetworkTopologyStrategy" and not self.datacenters.strip():
            raise ValueError("NetworkTopologyStrategy needs datacenters, e.g. MMBENCH_CASSANDRA_DATACENTERS=dc1:3")
        if not self.hosts:
            raise ValueError("contact_points is empty")
        return self

    @property
    def hosts(self) -> list[str]:
        return [h.strip() for h in self.contact_points.split(",") if h.strip()]

    @property
    def read_level(self) -> str:
        return self.read_consistency or self.consistency

    @property
    def write_level(self) -> str:
        return self.write_consistency or self.consistency

    def replication_map(self, nodes: int = 1) -> dict[str, str]:
        """The keyspace's replication as Cassandra reports it in system_schema.keyspaces; `nodes`
        (the cluster's size) sets SimpleStrategy's factor when none is given."""
        if self.replication == "SimpleStrategy":
            factor = self.replication_factor or max(1, min(nodes, MAX_DEFAULT_RF))
            return {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": str(factor)}
        factors = {}
        for item in filter(None, (s.strip() for s in self.datacenters.split(","))):
            name, _, factor = item.partition(":")
            factors[name.strip()] = str(int(factor))
        return {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", **factors}

    @property
    def address(self) -> str:
        """Where: hosts and port (never credentials, which are separate settings)."""
        return f"{','.join(self.hosts)}:{self.port}"
