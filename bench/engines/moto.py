"""moto's server (PyPI ``moto[server]``-style, pinned below 5.2): the AWS APIs the hands-on needs, emulated.

One process on http://127.0.0.1:5000 answers the DynamoDB, S3 and Glue APIs (the cloud
hands-on stores files in its S3 and crawls them into its Glue Data Catalog). Run as
``python -m bench.engines.moto_server -H 127.0.0.1 -p 5000`` (moto without its memory-leaking
instance tracking) with this very interpreter, so it uses the moto installed next to mmbench.
State is in memory: a restart empties it.

The DynamoDB backend uses it with ``MMBENCH_DYNAMODB_ENGINE=moto``. moto implements what dynalite
lacks (TransactWriteItems, PartiQL, TTL), but it answers a Query by walking the whole table and
reports placeholder consumed capacity: an emulator, its numbers say nothing about AWS.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys

from bench.engines.base import Engine, EngineError, LaunchSpec, Progress
from bench.engines.dynamodb import dynamodb_round_trip, http_get

SERVICES = ("dynamodb", "s3", "glue")  # the moto modules the hands-on and the DynamoDB backend use


class Moto(Engine):
    """moto server answering the DynamoDB, S3 and Glue APIs on http://127.0.0.1:5000."""

    name = "moto"
    product = "moto (AWS API emulator: DynamoDB, S3, Glue)"
    emulator = True
    port = 5000
    protocol = "the DynamoDB API"
    default_timeout = 60.0
    stop_grace = 10.0

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _fetch(self, progress: Progress) -> None:
        """Nothing to download: checks that moto's server and its DynamoDB, S3, Glue modules import here."""
        needed = ("flask", "boto3", "moto.server", *(f"moto.{service}" for service in SERVICES))
        for module in needed:
            try:
                found = importlib.util.find_spec(module) is not None
            except ImportError:
                found = False
            if not found:
                raise EngineError(f"moto needs moto's server ({module} is missing): "
                                  f"{sys.executable} -m pip install -e '.[kv]'")

    def _command(self) -> LaunchSpec:
        return LaunchSpec(
            argv=[sys.executable, "-m", "bench.engines.moto_server", "-H", self.host, "-p", str(self.port)],
            cwd=self.runtime_dir,
        )

    def _probe(self, timeout: float) -> str:
        """A DynamoDB request, then moto's own API (so dynalite or another server is not taken for moto)."""
        dynamodb_round_trip(self.address, timeout)
        if not http_get(f"{self.address}/moto-api/config", timeout).lstrip().startswith("{"):
            raise EngineError(f"the server on {self.address} answers DynamoDB but is not moto")
        return importlib.metadata.version("moto")


ENGINE = Moto
