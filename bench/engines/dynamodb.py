"""The DynamoDB API, emulated by moto's server (``moto[server]`` from PyPI).

Run as ``python -m bench.engines.moto_server -H 127.0.0.1 -p 8000`` (moto's server without
its memory-leaking instance tracking) with this very interpreter (``sys.executable``), so it
uses the moto installed next to mmbench. State is in memory: a
restart empties it. It is an emulator; its numbers say nothing about AWS DynamoDB.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys

from bench.engines.base import Engine, EngineError, LaunchSpec, Progress

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "mmbench", "aws_secret_access_key": "mmbench"}


class DynamoDB(Engine):
    """moto server answering the DynamoDB API on http://127.0.0.1:8000."""

    name = "dynamodb"
    product = "moto (DynamoDB API emulator)"
    emulator = True
    port = 8000
    protocol = "the DynamoDB API"
    default_timeout = 60.0
    stop_grace = 10.0

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _fetch(self, progress: Progress) -> None:
        """Nothing to download: checks that ``moto[server]`` is importable here."""
        for module in ("moto.server", "flask", "boto3"):
            if importlib.util.find_spec(module.split(".")[0]) is None or (
                module == "moto.server" and importlib.util.find_spec(module) is None
            ):
                raise EngineError(
                    f"dynamodb needs moto's server: {sys.executable} -m pip install 'moto[server]'"
                    " (or pip install -e '.[kv]')"
                )

    def _command(self) -> LaunchSpec:
        return LaunchSpec(
            argv=[sys.executable, "-m", "bench.engines.moto_server", "-H", self.host, "-p", str(self.port)],
            cwd=self.runtime_dir,
        )

    def _probe(self, timeout: float) -> str:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "dynamodb",
            endpoint_url=self.address,
            region_name=REGION,
            config=Config(
                connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 0}
            ),
            **CREDENTIALS,
        )
        client.list_tables(Limit=1)
        return importlib.metadata.version("moto")


ENGINE = DynamoDB
