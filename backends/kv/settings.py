"""Where DynamoDB is: environment variables MMBENCH_DYNAMODB_* (or a DynamoDBSettings object).

    MMBENCH_DYNAMODB_URL                endpoint; default the local moto server. `aws` (or empty)
                                        means Amazon DynamoDB's regional endpoint.
    MMBENCH_DYNAMODB_REGION             default us-east-1 locally; on AWS boto3's own (AWS_REGION...)
    MMBENCH_DYNAMODB_ACCESS_KEY_ID      credentials; locally a dummy pair is used when unset, on AWS
    MMBENCH_DYNAMODB_SECRET_ACCESS_KEY  boto3's default chain (AWS_* variables, ~/.aws, a role)
    MMBENCH_DYNAMODB_TABLE_PREFIX       prefix of the table names (default `mmbench_`)
    MMBENCH_DYNAMODB_WORKERS            parallel requests for bulk writes and fan-out reads
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_URL = "http://127.0.0.1:8000"
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("mmbench", "mmbench")  # moto accepts any; never send real keys to localhost


class DynamoDBSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MMBENCH_DYNAMODB_")

    url: str = LOCAL_URL
    region: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    table_prefix: str = Field("mmbench_", pattern=r"^[A-Za-z0-9_.-]*$")
    workers: int = Field(4, ge=1, le=64)
    timeout: float = Field(5.0, gt=0, description="seconds to connect; reads wait up to 30x this")

    @property
    def on_aws(self) -> bool:
        """True for Amazon DynamoDB itself (no URL, `aws`, or an *.amazonaws.com endpoint)."""
        if self.url.strip().lower() in ("", "aws"):
            return True
        return (urlsplit(self.url).hostname or "").endswith(".amazonaws.com")

    @property
    def endpoint_url(self) -> str | None:
        """The URL to give boto3 (None: the regional AWS endpoint)."""
        return None if self.url.strip().lower() in ("", "aws") else self.url
