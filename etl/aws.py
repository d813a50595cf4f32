"""Where the cloud services are, and boto3 clients for them with timeouts and one-line errors.

    MMBENCH_S3_URL     the S3 API endpoint; default the local moto server http://127.0.0.1:5000
                       (`mmbench up s3`). `aws` (or empty) means Amazon S3 itself.
    MMBENCH_GLUE_URL   the Glue API endpoint (Data Catalog); default the same local server.
                       `aws` (or empty) means AWS Glue itself.
    MMBENCH_AWS_REGION the region; default us-east-1 locally, boto3's own (AWS_REGION, ~/.aws) on AWS.

Credentials: a local endpoint (loopback address) always gets a dummy pair, so real keys are
never sent to an emulator; any other endpoint uses boto3's default chain (AWS_* variables,
~/.aws, an instance or Lambda role).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from backends.base import EngineUnavailable, redact_url
from models.errors import MMBenchError, UsageError, first_line

LOCAL_URL = "http://127.0.0.1:5000"
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "mmbench", "aws_secret_access_key": "mmbench"}
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 60.0


class CloudError(MMBenchError):
    """A cloud service refused a request (no such bucket, access denied...): one line."""


class ServiceUnavailable(EngineUnavailable):
    """The service does not answer at its address."""

    def __init__(self, service: str, address: str, detail: str = "") -> None:
        self.backend, self.address = service, address
        env = {"s3": "MMBENCH_S3_URL", "glue": "MMBENCH_GLUE_URL"}.get(service, "MMBENCH_DYNAMODB_URL")
        start = "`mmbench up s3`" if service in ("s3", "glue") else "`mmbench up dynamodb`"
        extra = f" ({detail})" if detail else ""
        MMBenchError.__init__(self, f"{service}: cannot reach the {SERVICE_NAMES.get(service, service)} API at "
                                    f"{address}{extra}; start it with {start}, or set {env}")


SERVICE_NAMES = {"s3": "S3", "glue": "Glue", "dynamodb": "DynamoDB"}


@dataclass(frozen=True)
class Endpoint:
    """One service's address: a URL, or None for the AWS regional endpoint."""

    service: str
    url: str | None

    @property
    def local(self) -> bool:
        """A loopback address: an emulator that gets dummy credentials."""
        if self.url is None:
            return False
        host = urlsplit(self.url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def on_aws(self) -> bool:
        return self.url is None or (urlsplit(self.url).hostname or "").endswith(".amazonaws.com")

    def describe(self) -> str:
        return redact_url(self.url) if self.url else f"AWS {SERVICE_NAMES.get(self.service, self.service)} ({region(self)})"


def endpoint(service: str) -> Endpoint:
    """The endpoint of `s3` or `glue` from MMBENCH_<SERVICE>_URL (default: the local moto server)."""
    raw = os.environ.get(f"MMBENCH_{service.upper()}_URL")
    if raw is None:
        return Endpoint(service, LOCAL_URL)
    raw = raw.strip()
    if raw.lower() in ("", "aws"):
        return Endpoint(service, None)
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"MMBENCH_{service.upper()}_URL={redact_url(raw)!r}: expected http(s)://host:port or `aws`")
    return Endpoint(service, raw.rstrip("/"))


def region(ep: Endpoint) -> str | None:
    """MMBENCH_AWS_REGION, else us-east-1 for a local endpoint, else boto3's own choice (None)."""
    chosen = os.environ.get("MMBENCH_AWS_REGION", "").strip()
    if chosen:
        return chosen
    return LOCAL_REGION if ep.local else (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None)


def client(service: str, ep: Endpoint | None = None, *, read_timeout: float = READ_TIMEOUT_S) -> Any:
    """A boto3 client for `service` at `ep` (default: its configured endpoint), with timeouts."""
    import boto3
    from botocore.config import Config

    ep = ep or endpoint(service if service in ("s3", "glue") else "s3")
    config = Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=read_timeout,
                    retries={"mode": "standard", "max_attempts": 2 if ep.local else 5},
                    s3={"addressing_style": "path"} if not ep.on_aws else None,
                    region_name=region(ep))
    kwargs: dict[str, Any] = {"config": config}
    if ep.url is not None:
        kwargs["endpoint_url"] = ep.url
    if ep.local:
        kwargs.update(LOCAL_CREDENTIALS)
        kwargs["region_name"] = region(ep)
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client(service, **kwargs)
    except BotoCoreError as exc:  # NoRegionError and friends
        raise CloudError(f"{service}: {first_line(exc)}; set MMBENCH_AWS_REGION or AWS_REGION") from None


@contextlib.contextmanager
def errors(service: str, ep: Endpoint, what: str = "") -> Iterator[None]:
    """boto3 errors as one line: ServiceUnavailable when nothing answers, else CloudError."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    suffix = f" ({what})" if what else ""
    try:
        yield
    except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as exc:
        raise ServiceUnavailable(service, ep.describe(), first_line(exc)) from None
    except ReadTimeoutError as exc:
        raise ServiceUnavailable(service, ep.describe(), f"no answer in time: {first_line(exc)}") from None
    except NoCredentialsError:
        raise CloudError(f"{service}: no AWS credentials found for {ep.describe()}; set AWS_ACCESS_KEY_ID and "
                         "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use a role") from None
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "Error"), first_line(err.get("Message") or str(exc))
        raise CloudError(f"{service}: {code}: {message}{suffix}") from None
    except BotoCoreError as exc:
        raise CloudError(f"{service}: {first_line(exc)}{suffix}") from None
