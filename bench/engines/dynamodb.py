"""The DynamoDB API locally: dynalite (npm, pinned 4.0.0), a DynamoDB emulator on LevelDB.

Installed by the fetch step from the project's own pinned files (``bench/engines/dynalite/
package.json`` and ``package-lock.json``) with ``npm ci`` into ``~/.cache/mmbench/dynamodb/``;
the LevelDB binding is prebuilt inside the npm package, so nothing is compiled or downloaded at
run time. Needs Node.js 20 or later. Runs as ``node serve.js --host 127.0.0.1 --port 8000 --path
<state dir>/dynamodb/data`` (its default would listen on every interface); the data is on disk
and survives a restart. ``serve.js`` (ours, next to the package files) is dynalite's own server
plus LevelDB compactions after each DeleteTable: without them the tombstones of every replaced
table slow later Queries, DeleteTable and ListTables down (see its header).

Why dynalite rather than moto (``mmbench up moto``, port 5000): moto answers a Query by walking
the whole table, so a key lookup grows with the table; dynalite reads a key range of its LevelDB
store, as DynamoDB reads one partition. It is still an emulator: one process, no partitions, no
throttling, no replication; it lacks TransactWriteItems, PartiQL, TTL and Streams. Its numbers
say nothing about Amazon DynamoDB's latency.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from bench.engines.base import Engine, EngineError, LaunchSpec, Progress

VERSION = "4.0.0"
PACKAGE_FILES = Path(__file__).with_name("dynalite")  # package.json + package-lock.json, pinned; serve.js
LAUNCHER = "serve.js"
NODE_MAJOR = 20
REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "mmbench", "aws_secret_access_key": "mmbench"}
INSTALL_TIMEOUT_S = 600.0
TABLE_STATE_MS = "50"  # CREATING / DELETING / UPDATING last this long (dynalite's default: 500 ms)


def dynamodb_round_trip(address: str, timeout: float) -> None:
    """One DynamoDB API request (ListTables) with boto3; raises if nothing answers it."""
    import boto3
    from botocore.config import Config

    client = boto3.client("dynamodb", endpoint_url=address, region_name=REGION, **CREDENTIALS,
                          config=Config(connect_timeout=timeout, read_timeout=timeout,
                                        retries={"total_max_attempts": 1}))
    try:
        client.list_tables(Limit=1)
    finally:
        client.close()


def http_get(url: str, timeout: float) -> str:
    """The body of a GET (first 4 KB), or "" if it fails."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read(4096).decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


class DynamoDB(Engine):
    """dynalite answering the DynamoDB API on http://127.0.0.1:8000, data under the state dir."""

    name = "dynamodb"
    product = "dynalite (DynamoDB API emulator)"
    emulator = True
    port = 8000
    protocol = "the DynamoDB API"
    default_timeout = 60.0
    stop_grace = 10.0

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def install_dir(self) -> Path:
        return self.cache_dir / "dynalite"

    @property
    def cli(self) -> Path:
        """dynalite's own command line (its package.json tells the installed version)."""
        return self.install_dir / "node_modules" / "dynalite" / "cli.js"

    @property
    def launcher(self) -> Path:
        return self.install_dir / LAUNCHER

    def _lock_digest(self) -> str:
        return hashlib.sha256((PACKAGE_FILES / "package-lock.json").read_bytes()).hexdigest()[:16]

    def installed_version(self) -> str | None:
        """dynalite's version as installed in the cache (None if not installed)."""
        try:
            return str(json.loads((self.cli.parent / "package.json").read_text())["version"])
        except (OSError, ValueError, KeyError):
            return None

    def _fetch(self, progress: Progress) -> None:
        """`npm ci` of the pinned package files into the cache, unless that exact lock is installed."""
        stamp = self.install_dir / ".mmbench-lock"
        if self.cli.is_file() and stamp.is_file() and stamp.read_text().strip() == self._lock_digest():
            return
        _, npm = _node_and_npm()
        staging = self.cache_dir / "dynalite.installing"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(PACKAGE_FILES / name, staging / name)
        progress(f"installing dynalite {VERSION} with npm (once)…")
        try:
            done = subprocess.run([npm, "ci", "--ignore-scripts", "--omit=dev", "--no-audit", "--no-fund"],
                                  cwd=staging, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise EngineError(f"dynamodb: npm ci did not finish within {INSTALL_TIMEOUT_S:.0f} s") from None
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise EngineError(f"dynamodb: `npm ci` of dynalite {VERSION} failed (exit {done.returncode})\n{tail}")
        (staging / ".mmbench-lock").write_text(self._lock_digest() + "\n")
        shutil.rmtree(self.install_dir, ignore_errors=True)
        staging.rename(self.install_dir)

    def _configure(self, progress: Progress) -> None:
        super()._configure(progress)
        (self.runtime_dir / "data").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACKAGE_FILES / LAUNCHER, self.launcher)  # next to node_modules, so it finds dynalite

    def _after_start(self, progress: Progress) -> None:
        """Record which dynalite runs (it reports no version itself), for the backend's engine_info."""
        record = {"product": "dynalite", "version": self.installed_version() or VERSION, "address": self.address}
        (self.runtime_dir / "dynalite.json").write_text(json.dumps(record) + "\n")

    def _command(self) -> LaunchSpec:
        node, _ = _node_and_npm()
        return LaunchSpec(argv=[node, str(self.launcher), "--host", self.host, "--port", str(self.port),
                                "--path", str(self.runtime_dir / "data"), "--createTableMs", TABLE_STATE_MS,
                                "--deleteTableMs", TABLE_STATE_MS, "--updateTableMs", TABLE_STATE_MS],
                          cwd=self.runtime_dir)

    def _probe(self, timeout: float) -> str:
        """A DynamoDB request, then dynalite's own health page (moto on this port is not dynalite)."""
        dynamodb_round_trip(self.address, timeout)
        if not http_get(f"{self.address}/", timeout).startswith("healthy:"):
            raise EngineError(f"the DynamoDB API on {self.address} is not dynalite (moto? `mmbench down dynamodb` "
                              "from where it was started)")
        return self.installed_version() or VERSION

    def _port_hint(self) -> str:
        return " (moto on this port? moto now runs as engine `moto` on port 5000)"


def _node_and_npm() -> tuple[str, str]:
    """Paths of node (version >= NODE_MAJOR) and npm; EngineError with advice if missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    advice = (f"dynamodb needs Node.js {NODE_MAJOR} or later and npm (for dynalite): "
              "sudo apt-get install -y nodejs npm, or https://nodejs.org")
    if not node or not npm:
        raise EngineError(advice)
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
        major = int(version.strip().lstrip("v").split(".")[0])
    except (OSError, subprocess.SubprocessError, ValueError):
        raise EngineError(advice) from None
    if major < NODE_MAJOR:
        raise EngineError(f"{advice} (found {version.strip()})")
    return node, npm


ENGINE = DynamoDB
