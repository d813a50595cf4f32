"""The results file: one JSON document per run, versioned, with everything needed to trust it.

`results/<UTC timestamp>-<id>.json`, schema `mmbench.results/1` (documented field by field in
the README, section "Results file"). Top level:

- `schema`, `id`, `started_at`, `finished_at`, `status` (`complete`, `failures`: something
  failed but the rest was measured, `interrupted`: Ctrl-C, what was measured so far);
- `tool` (name, version, git commit, whether the work tree had local changes), `machine` (CPU
  model, cores, memory, OS), `python`, `packages` (driver and library versions), `settings`
  (every option of the run, defaults included);
- `datasets`: per data set its name, scale, seed and row counts;
- `backends`: per backend its status, data model, engine (product, version, emulator or not,
  address), driver version, and per data set the timed load (rows/s per entity);
- `results`: one entry per (backend, data set, phase): the statistics, tier, status, error,
  verification, the encoded HdrHistogram and any engine-reported cost (DynamoDB capacity).

Credentials never appear: every string is scrubbed of URL passwords and `password=` style
assignments before the file is written, and settings hold no addresses.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import secrets
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

import bench
from models.errors import UsageError

SCHEMA = "mmbench.results/1"
PACKAGES = ("sqlalchemy", "psycopg", "boto3", "moto", "pymongo", "cassandra-driver", "neo4j",
            "hdrhistogram", "numpy", "matplotlib", "pytest-benchmark")
REPO = Path(__file__).resolve().parent.parent

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*):[^@/\s]*@")
_ASSIGNED_SECRET = re.compile(r"(?i)(?P<head>\b(?:password|passwd|pwd|secret|token|aws_secret_access_key)\b\s*[=:]\s*)"
                              r"(?P<q>['\"]?)[^\s'\",;&]+(?P=q)")


def scrub(value: Any) -> Any:
    """`value` with credentials masked in every string (URL passwords, password=... pairs)."""
    if isinstance(value, str):
        return _ASSIGNED_SECRET.sub(r"\g<head>\g<q>***\g<q>", _URL_PASSWORD.sub(r"\g<head>:***@", value))
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict[str, Any]:
    """Tool, machine, Python and package versions: the parts of a run that are not settings."""
    commit = _git("rev-parse", "HEAD")
    return {
        "tool": {"name": "mmbench", "version": bench.__version__, "git_commit": commit,
                 "git_dirty": bool(_git("status", "--porcelain")) if commit else None},
        "machine": {"cpu_model": _cpu_model(), "cpu_cores_logical": psutil.cpu_count(logical=True),
                    "cpu_cores_physical": psutil.cpu_count(logical=False),
                    "memory_bytes": psutil.virtual_memory().total, "os": platform.platform(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "packages": _package_versions(),
    }


class ResultsDoc:
    """The results document of one run, filled in as the run goes (`data` is the JSON)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        stamp = dt.datetime.now(dt.UTC)
        self.id = f"{stamp:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.data: dict[str, Any] = {
            "schema": SCHEMA, "id": self.id, "started_at": now_iso(), "finished_at": None, "status": "running",
            **environment(), "settings": settings, "datasets": {}, "backends": {}, "results": [],
        }

    @property
    def results(self) -> list[dict[str, Any]]:
        return self.data["results"]

    def backend(self, name: str) -> dict[str, Any]:
        return self.data["backends"].setdefault(name, {"status": "ok", "error": None, "loads": {}})

    def failed(self) -> bool:
        """Whether anything asked for did not yield a trustworthy number."""
        return any(b["status"] == "failed" or (b["status"] == "unavailable" and b.get("requested"))
                   for b in self.data["backends"].values()) or any(
            r["status"] not in ("ok", "skipped") or r.get("verified") is False for r in self.results)

    def finish(self, interrupted: bool = False) -> None:
        self.data["finished_at"] = now_iso()
        self.data["status"] = "interrupted" if interrupted else ("failures" if self.failed() else "complete")

    def write(self, out_dir: Path) -> Path:
        """Write `<out_dir>/<id>.json` (atomically: a partial file never has the final name)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{self.id}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(scrub(self.data), indent=1, default=str) + "\n")
        tmp.replace(path)
        return path


def load_results(path: Path) -> dict[str, Any]:
    """A results document; UsageError if the file is missing, not JSON or not our schema."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not a JSON results file ({exc.msg} at line {exc.lineno})") from None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(schema, str) or schema.rpartition("/")[0] != SCHEMA.rpartition("/")[0]:
        raise UsageError(f"{path}: not an mmbench results file (schema {schema!r}, expected {SCHEMA!r})")
    if schema != SCHEMA:
        raise UsageError(f"{path}: results schema {schema!r} is not supported by this version (reads {SCHEMA!r})")
    doc["_path"] = str(path)
    return doc


def load_all(paths: Iterable[Path]) -> list[dict[str, Any]]:
    docs = [load_results(p) for p in paths]
    if not docs:
        raise UsageError("give at least one results file")
    return docs
