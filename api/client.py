"""The API as a benchmark target: a Backend whose read queries go through the HTTP API.

`mmbench run --via api` measures each backend twice: directly, and behind the genomics API
(`sqlite+api`), so the report shows what the service layer — HTTP, JSON in and out, the ASGI
framework, the server's thread pool — adds to each query's latency.

- `ApiServer(backend)` starts `python -m api --backend B` on a free loopback port (uvicorn,
  one process) and stops it; the benchmark starts one per backend and every worker process
  talks to it.
- `ApiBackend` (made per backend by `api_backend_class`, named `<backend>+api`, with the
  backend's model and tiers) sends each read as `GET /queries/<name>?...` over ONE keep-alive
  HTTP/1.1 connection (urllib3, no retries, timeouts) and turns the canonical JSON answer back
  into domain objects, so the harness checks it against the reference like any backend's.
- The API is read-only: loading (`reset`, `load`, the load protocol, `holdings`) goes to the
  backend directly, after which the server is asked for `/health`, which makes it look at the
  new data at once. Writes raise BackendError: run them against the backend itself.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime as dt
import functools
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import typing
from pathlib import Path
from typing import Any, ClassVar, Self

from api.schemas import answer_type
from backends import backend_class, open_backend, registration
from backends.base import (
    Backend,
    BackendError,
    EngineInfo,
    EngineUnavailable,
    Explanation,
    Holdings,
    redact_url,
)
from models.catalog import Q
from models.dataset import Dataset, EntityKind
from models.entities import (
    CodeCount,
    Diagnosis,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
)
from models.errors import MMBenchError, UsageError, first_line

API_URL_ENV = "MMBENCH_API_URL"
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 120.0


class ApiUnavailable(EngineUnavailable):
    """The API (or the engine behind it) does not answer."""

    def __init__(self, name: str, address: str, detail: str) -> None:
        self.backend, self.address = name, address
        MMBenchError.__init__(self, f"{name}: {detail}")


# ---------------------------------------------------------------- a server process

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ApiServer:
    """`python -m api --backend B` on `host`, a free port by default; a context manager."""

    def __init__(self, backend: str, host: str = "127.0.0.1", port: int = 0, *, pool_size: int = 4,
                 env: dict[str, str] | None = None) -> None:
        self.backend = registration(backend).name
        self.host, self.port, self.pool_size = host, port, pool_size
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        if self.process is not None:
            return self
        self.port = self.port or free_port(self.host)
        self._log = tempfile.NamedTemporaryFile(prefix="mmbench-api-", suffix=".log", delete=False)  # noqa: SIM115 - outlives start()
        argv = [sys.executable, "-m", "api", "--backend", self.backend, "--host", self.host, "--port", str(self.port),
                "--pool", str(self.pool_size)]
        self.process = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env={**os.environ, **(self.env or {})}, cwd=Path(__file__).resolve().parent.parent)
        atexit.register(self.stop)  # a process that forgets close() leaves no server behind
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                why = self._log_tail()
                self.stop()
                raise BackendError(f"{self.backend}+api: the API server exited at start: {why}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise BackendError(f"{self.backend}+api: the API server did not listen on {self.url} within {timeout:.0f} s")

    def _log_tail(self) -> str:
        try:
            lines = Path(self._log.name).read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no output"
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        atexit.unregister(self.stop)
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
            self.process = None
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---------------------------------------------------------------- decoding answers

@functools.cache
def _decoder(cls: type) -> Any:
    """A function from a canonical JSON object to an instance of the dataclass `cls`."""
    if cls is PatientRecord:
        patient, diagnosis = _decoder(Patient), _decoder(Diagnosis)
        fields = [f.name for f in dataclasses.fields(Patient)]
        return lambda d: PatientRecord(patient({k: d[k] for k in fields}),
                                       tuple(diagnosis(x) for x in d.get("diagnoses", [])))
    hints = typing.get_type_hints(cls)
    dates = [name for name, t in hints.items() if t is dt.date]
    floats = [name for name, t in hints.items() if t is float]

    def decode(d: dict[str, Any]) -> Any:
        for name in dates:
            d[name] = dt.date.fromisoformat(d[name])
        for name in floats:
            d[name] = float(d[name])
        return cls(**d)

    return decode


def decode_answer(query: Q, answer: Any) -> Any:
    cls, many, _ = answer_type(query)
    decode = _decoder(cls)
    if many:
        return [decode(x) for x in answer]
    return None if answer is None else decode(answer)


def _encode(params: dict[str, Any]) -> dict[str, str]:
    return {k: v.isoformat() if isinstance(v, dt.date) else str(v) for k, v in params.items() if v is not None}


# ---------------------------------------------------------------- the backend

class ApiBackend(Backend):
    """Reads through the HTTP API of `inner` at `url`; loads and writes go to `inner` directly."""

    inner: ClassVar[str] = ""
    name: ClassVar[str] = "api"
    model: ClassVar[str] = "api"

    def __init__(self, url: str, server: ApiServer | None = None) -> None:
        import urllib3

        self.url, self.server = url.rstrip("/"), server
        self._direct: Backend | None = None
        self._http = urllib3.connection_from_url(
            self.url, maxsize=1, block=True, retries=False,
            timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S),
            headers={"Accept": "application/json", "User-Agent": "mmbench-api-client"})
        try:
            self._health = self._get("/health")  # fails now (one line) if the API or its engine is down
        except BaseException:
            self._http.close()
            raise

    @classmethod
    def from_settings(cls, settings: Any = None) -> Self:
        """At `settings` (a URL), else $MMBENCH_API_URL, else a server of our own on loopback."""
        url = settings or os.environ.get(API_URL_ENV)
        if url:
            return cls(str(url))
        server = ApiServer(cls.inner).start()
        try:
            return cls(server.url, server)
        except BaseException:
            server.stop()
            raise

    # -- HTTP

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        import urllib3

        try:
            r = self._http.request("GET", path, fields=params)
        except urllib3.exceptions.HTTPError as exc:
            raise ApiUnavailable(self.name, self.url, f"cannot reach the API at {redact_url(self.url)} "
                                                      f"({first_line(exc)})") from None
        try:
            body = json.loads(r.data) if r.data else None
        except ValueError:
            body = None
        if r.status == 200:
            return body
        message = body.get("error") if isinstance(body, dict) else None
        message = message or f"HTTP {r.status} from {redact_url(self.url)}{path}"
        if r.status == 503:
            raise ApiUnavailable(self.name, self.url, message)
        if r.status in (400, 404, 422):
            raise UsageError(f"{self.name}: {message}")
        raise BackendError(f"{self.name}: HTTP {r.status}: {message}")

    def _read(self, query: Q, params: dict[str, Any]) -> Any:
        body = self._get(f"/queries/{query.value}", _encode(params))
        return decode_answer(query, body["answer"])

    # -- what answers

    def engine_info(self) -> EngineInfo:
        e = self._health.get("engine", {})
        return EngineInfo(
            product=f"{e.get('product', '?')} behind the mmbench API", version=str(e.get("version", "")),
            emulator=bool(e.get("emulator")),
            driver=f"urllib3 {importlib.metadata.version('urllib3')} (HTTP/1.1 keep-alive) -> uvicorn "
                   f"{_version('uvicorn')}, FastAPI {_version('fastapi')}",
            address=redact_url(self.url),
            options={"via": "api", "backend": self.inner, "engine_address": str(e.get("address", ""))})

    # -- loading and holdings: the backend itself

    def direct(self) -> Backend:
        if self._direct is None:
            self._direct = open_backend(self.inner)
        return self._direct

    def _poke(self) -> None:
        """Make the server look at the data now (it also looks on its own, every second)."""
        self._health = self._get("/health")

    def reset(self) -> None:
        self.direct().reset()
        self._poke()

    def load(self, data: Dataset, *, batch_size: int = 5000, progress: Any = None) -> Any:
        stats = self.direct().load(data, batch_size=batch_size, progress=progress)
        self._poke()
        return stats

    def begin_load(self) -> None:
        self.direct().begin_load()

    def write_batch(self, kind: EntityKind, rows: list[Any]) -> None:
        self.direct().write_batch(kind, rows)

    def finish_kind(self, kind: EntityKind) -> None:
        self.direct().finish_kind(kind)

    def end_load(self, holdings: Holdings) -> None:
        self.direct().end_load(holdings)
        self._poke()

    def abort_load(self) -> None:
        self.direct().abort_load()

    def holdings(self) -> Holdings | None:
        return self.direct().holdings()

    def record_writes(self, n: int) -> None:
        self.direct().record_writes(n)

    def explain(self, query: Q | str, params: Any) -> Explanation:
        """The backend's own explanation: the API adds one HTTP request and JSON both ways."""
        ex = self.direct().explain(query, params)
        ex.backend = self.name
        ex.notes.append(f"through the HTTP API at {redact_url(self.url)}: one GET /queries/{Q(query).value} per "
                        "query; the engine's statements are the backend's")
        return ex

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._direct is not None:
            self._direct.close()
            self._direct = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    # -- the catalog's reads, over HTTP

    def variant_by_id(self, *, variant_id: str) -> Variant | None:
        return self._read(Q.VARIANT_BY_ID, {"variant_id": variant_id})

    def variants_by_chromosome(self, *, chromosome: str) -> list[Variant]:
        return self._read(Q.VARIANTS_BY_CHROMOSOME, {"chromosome": chromosome})

    def variants_in_region(self, *, chromosome: str, start: int, end: int) -> list[Variant]:
        return self._read(Q.VARIANTS_IN_REGION, {"chromosome": chromosome, "start": start, "end": end})

    def variants_min_depth(self, *, min_depth: int) -> list[Variant]:
        return self._read(Q.VARIANTS_MIN_DEPTH, {"min_depth": min_depth})

    def variants_min_quality(self, *, min_quality: float) -> list[Variant]:
        return self._read(Q.VARIANTS_MIN_QUALITY, {"min_quality": repr(float(min_quality))})

    def all_variants(self) -> list[Variant]:
        return self._read(Q.ALL_VARIANTS, {})

    def patient_by_id(self, *, patient_id: int) -> PatientRecord | None:
        return self._read(Q.PATIENT_BY_ID, {"patient_id": patient_id})

    def patients_older_than(self, *, age: int) -> list[Patient]:
        return self._read(Q.PATIENTS_OLDER_THAN, {"age": age})

    def patients_with_diagnosis(self, *, code: str) -> list[Patient]:
        return self._read(Q.PATIENTS_WITH_DIAGNOSIS, {"code": code})

    def diagnosis_counts(self, *, min_age: int | None = None) -> list[CodeCount]:
        return self._read(Q.DIAGNOSIS_COUNTS, {"min_age": min_age})

    def lab_history(self, *, patient_id: int, test_name: str, since: dt.date, until: dt.date) -> list[LabResult]:
        return self._read(Q.LAB_HISTORY, {"patient_id": patient_id, "test_name": test_name, "since": since,
                                          "until": until})

    def carriers_with_diagnosis(self, *, chromosome: str, start: int, end: int, code: str) -> list[Patient]:
        return self._read(Q.CARRIERS_WITH_DIAGNOSIS, {"chromosome": chromosome, "start": start, "end": end,
                                                      "code": code})

    def patients_sharing_diagnoses(self, *, patient_id: int) -> list[SharedDiagnoses]:
        return self._read(Q.PATIENTS_SHARING_DIAGNOSES, {"patient_id": patient_id})

    def comorbid_codes(self, *, code: str) -> list[CodeCount]:
        return self._read(Q.COMORBID_CODES, {"code": code})

    # -- writes: not through a read-only API

    def _read_only(self) -> BackendError:
        return BackendError(f"{self.name}: the API is read-only; run writes against {self.inner} directly")

    def add_patient(self, *, patient: PatientRecord) -> None:
        raise self._read_only()

    def add_diagnosis(self, *, diagnosis_id: int, patient_id: int, code: str, diagnosed_on: dt.date) -> None:
        raise self._read_only()

    def add_variants(self, *, variants: list[Variant]) -> None:
        raise self._read_only()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


@functools.cache
def api_backend_class(backend: str) -> type[ApiBackend]:
    """`ApiBackend` for `backend`: named `<backend>+api`, with the backend's model and tiers."""
    name = registration(backend).name
    inner = backend_class(name)
    return type(f"Api{inner.__name__}", (ApiBackend,), {
        "inner": name, "name": f"{name}+api",
        "model": inner.model, "tiers": inner.tiers, "__module__": __name__})


def open_api_backend(backend: str, url: str | None = None) -> ApiBackend:
    """`backend` through the API at `url` ($MMBENCH_API_URL, else a server of its own).
    Module-level, so `functools.partial(open_api_backend, name, url)` pickles for worker processes."""
    return api_backend_class(backend).from_settings(url)
