"""Where DynamoDB is: environment variables MMBENCH_DYNAMODB_* (or a DynamoDBSettings object).

    MMBENCH_DYNAMODB_ENGINE             the local engine when no URL is given: `dynalite` (default,
                                        http://127.0.0.1:8000) or `moto` (http://127.0.0.1:5000)
    MMBENCH_DYNAMODB_URL                endpoint; wins over ENGINE. `aws` (or empty) means Amazon
                                        DynamoDB's regional endpoint.
    MMBENCH_DYNAMODB_REGION             default us-east-1 locally; on AWS boto3's own (AWS_REGION...)
    MMBENCH_DYNAMODB_ACCESS_KEY_ID      credentials; locally a dummy pair is used when unset, on AWS
    MMBENCH_DYNAMODB_SECRET_ACCESS_KEY  boto3's default chain (AWS_* variables, ~/.aws, a role)
    MMBENCH_DYNAMODB_TABLE_PREFIX       prefix of the table names (default `mmbench_`); the data
                                        namespace follows it (`mmbench_<namespace>_...`)
    MMBENCH_DYNAMODB_WORKERS            parallel requests for bulk writes and fan-out reads
    MMBENCH_DYNAMODB_TIMEOUT            seconds to connect; a request waits up to 6x this for an answer
    MMBENCH_DYNAMODB_CONSISTENT_READ    true: GetItem, Query and Scan on the tables with ConsistentRead
                                        (strongly consistent, twice the read units); false (default):
                                        eventually consistent, DynamoDB's default. GSI reads are always
                                        eventually consistent (DynamoDB refuses ConsistentRead on a GSI).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from backends.base import BackendError, namespace

LOCAL_URLS = {"dynalite": "http://127.0.0.1:8000", "moto": "http://127.0.0.1:5000"}
LOCAL_URL = LOCAL_URLS["dynalite"]
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("mmbench", "mmbench")  # the emulators accept any; never send real keys to localhost


class DynamoDBSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MMBENCH_DYNAMODB_")

    engine: Literal["dynalite", "moto"] = "dynalite"
    url: str | None = None
    region: str = ""
    access_key_id: SecretStr = SecretStr("")   # secret too: neither ever shows in a repr or a message
    secret_access_key: SecretStr = SecretStr("")
    table_prefix: str = Field("mmbench_", pattern=r"^[A-Za-z0-9_.-]*$", max_length=100)
    workers: int = Field(4, ge=1, le=64)
    timeout: float = Field(5.0, gt=0, le=600, description="seconds to connect; an answer may take 6x this")
    consistent_read: bool = False

    @classmethod
    def from_env(cls) -> DynamoDBSettings:
        """The settings from the environment; a bad value is one line naming its variable."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "_".join(str(part) for part in first["loc"]).upper()
            raise BackendError(f"dynamodb: invalid setting MMBENCH_DYNAMODB_{where}: "
                               f"{first['msg'].removeprefix('Value error, ')}") from None

    @property
    def address(self) -> str:
        """The configured endpoint: the URL if given, else the local engine's ("" or `aws`: AWS)."""
        return LOCAL_URLS[self.engine] if self.url is None else self.url.strip()

    @property
    def on_aws(self) -> bool:
        """True for Amazon DynamoDB itself (`aws`, an empty URL, or an *.amazonaws.com endpoint)."""
        if self.address.lower() in ("", "aws"):
            return True
        return (urlsplit(self.address).hostname or "").endswith(".amazonaws.com")

    @property
    def endpoint_url(self) -> str | None:
        """The URL to give boto3 (None: the regional AWS endpoint)."""
        return None if self.address.lower() in ("", "aws") else self.address

    def credentials(self) -> tuple[str, str]:
        """The configured key pair (empty strings when unset)."""
        return self.access_key_id.get_secret_value(), self.secret_access_key.get_secret_value()

    def prefix(self, design: str = "") -> str:
        """The table-name prefix of this namespace and design: `mmbench_` (default namespace),
        `mmbench_lecture_` (namespace `lecture`), `mmbench_lecture_single-table-` (a design; namespaces
        never contain `-`, so no namespace's names can clash with another's or a design's)."""
        ns = namespace()
        return self.table_prefix + (f"{ns}_" if ns else "") + (f"{design}-" if design else "")
