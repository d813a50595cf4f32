"""The results file: one JSON document per run, versioned, with everything needed to trust it.

`results/<UTC timestamp>-<id>.json`, schema `mmbench.results/2`, defined by the pydantic
models of `bench.schema` (its JSON Schema is in `schema/`; the README documents it field by
field). The writer validates the document through the models before writing it; every reader
(`load_results`) validates what it reads, so a malformed file is one line, never a KeyError.
Top level:

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
from pydantic import ValidationError

import bench
from bench.schema import READABLE, SCHEMA, ResultsFile
from models.errors import UsageError

PACKAGES = ("hdrhistogram", "numpy", "matplotlib", "psutil")
"""The harness's own libraries; each backend's drivers come from the registry (`packages`)."""
REPO = Path(__file__).resolve().parent.parent

_URL_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://)\S*@(?P<tail>[^\s@]*)")
"""A URL's userinfo, up to the LAST `@` of the token: a password with an unencoded `@` is removed whole."""
_ASSIGNED_SECRET = re.compile(r"(?i)(?P<head>\b(?:password|passwd|pwd|secret|token|aws_secret_access_key)\b\s*[=:]\s*)"
                              r"(?P<q>['\"]?)[^\s'\",;&]+(?P=q)")


def scrub(value: Any) -> Any:
    """`value` with credentials masked in every string (URL userinfo, password=... pairs)."""
    if isinstance(value, str):
        return _ASSIGNED_SECRET.sub(r"\g<head>\g<q>***\g<q>", _URL_USERINFO.sub(r"\g<head>***@\g<tail>", value))
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
    from backends import REGISTRY

    out: dict[str, str | None] = {}
    for name in dict.fromkeys((*(p for r in REGISTRY.values() for p in r.packages), *PACKAGES)):
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

    def validated(self) -> ResultsFile:
        """The document as the schema's model (ValidationError if the harness built it wrong)."""
        return ResultsFile.model_validate(scrub(self.data))

    def write(self, out: Path) -> Path:
        """Write the validated document to `out` (a directory: `<out>/<id>.json`; a `.json` path:
        that file), atomically: a partial file never has the final name."""
        path = out if out.suffix == ".json" else out / f"{self.id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.validated().dump(), indent=1) + "\n")
        tmp.replace(path)
        return path


def check_output(out: Path) -> None:
    """Refuse, before a run starts, an `--out` that cannot take a results file (so no
    measurement is lost at the end): an existing file, or a directory that cannot be written."""
    if out.suffix == ".json":
        if out.exists():
            raise UsageError(f"--out {out}: the file exists; give a new name or a directory")
        parent = out.parent
    else:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out}: not a directory")
        parent = out
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: cannot write into {probe}")


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"]) or "document"
    return f"{where}: {err['msg']}" + (f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else "")


def load_results(path: Path) -> dict[str, Any]:
    """A validated results document (as JSON data); UsageError (one line) if the file is missing,
    not JSON, not ours, of a version this one cannot read, or malformed."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
        doc = json.loads(text)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a JSON results file (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not a JSON results file ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise UsageError(f"{path}: not a JSON results file (nested too deeply)") from None
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if not isinstance(schema, str) or schema.rpartition("/")[0] != SCHEMA.rpartition("/")[0]:
        raise UsageError(f"{path}: not an mmbench results file (schema {schema!r}, expected {SCHEMA!r})")
    if schema not in READABLE:
        raise UsageError(f"{path}: results schema {schema!r} is not supported by this version (reads {', '.join(READABLE)})")
    try:
        model = ResultsFile.model_validate(doc)
    except ValidationError as exc:
        raise UsageError(f"{path}: malformed results file: {_first_problem(exc)}") from None
    out = model.dump()
    out["_path"] = str(path)
    return out


def load_all(paths: Iterable[Path]) -> list[dict[str, Any]]:
    docs = [load_results(p) for p in paths]
    if not docs:
        raise UsageError("give at least one results file")
    return docs


def latest(directory: Path = Path("results")) -> Path:
    """The newest results file in `directory` (what `latest` names on the command line)."""
    files = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise UsageError(f"no results file in {directory}/ to call latest")
    return files[-1]


def resolve(name: str | Path) -> Path:
    """A results file argument: a path, or `latest`."""
    return latest() if str(name) == "latest" else Path(name)
