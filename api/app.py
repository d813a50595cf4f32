"""The genomics REST API over any backend: the lecture's API Gateway + Lambda, as a FastAPI app.

    GET /genomics[?chromosome=4][&limit=N][&next=TOKEN]   variant calls, paginated (CSV field names)
    GET /genomics/{id}                                    one call, or 404
    GET /queries                                          the read queries and their parameters
    GET /queries/{name}?param=value                       any read query of the catalog
    GET /health                                           backend, engine, what it holds
    GET /openapi.json, /docs                              the API described, and tried in a browser

Read-only: only GET (and HEAD) exist. Errors are JSON `{"error": "one line"}` with the right
status: 400 (a parameter the catalog refuses, a bad page token), 422 (a parameter of the wrong
type), 404 (an unknown id, query or path), 405 (a method other than GET), 503 (the engine is
down or holds no data: the message names it and how to fix it), 502 (the engine refused the
request). Never a traceback.

Pagination fixes the lecture's Lambda, which returned the first 1 MB page of a Scan and
silently dropped the rest: `/genomics` cuts the backend's full answer into pages in genomic
order (chromosome, position, ID) and `next` is an opaque keyset token (the last call's sort
key), so all pages together hold every call exactly once, and a load between two pages never
makes a page skip or repeat a call that is in both data sets. The catalog has no paged query,
so each page asks the backend for the whole answer: fine for the lecture's and the synthetic
data sets, linear in the table for very large ones.

Backends are opened lazily (the API starts, and answers 503, while an engine is down) and
pooled: each request borrows one backend instance (its own connections) and returns it.
Every `RECHECK_S` seconds, and on every `/health`, the pool asks the backend what it holds; if
another process loaded new data since (`mmbench load`), the pooled instances are replaced,
so no request is answered by an instance that still points at the old data.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import contextlib
import datetime as dt
import inspect
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorBody, GenomicsPage, GenomicsVariant, answer_model
from backends import open_backend, registration
from backends.base import (
    Backend,
    BackendError,
    DriverMissing,
    EngineUnavailable,
    Holdings,
    NotLoaded,
    run_query,
)
from models.catalog import (
    CATALOG,
    CHROMOSOME,
    CODE,
    DATE,
    FLOAT,
    INT,
    READS,
    TEST_NAME,
    VARIANT_ID,
    Q,
    QuerySpec,
)
from models.entities import CHROMOSOMES, Variant
from models.errors import MMBenchError, UsageError, first_line
from models.validate import MAX_CHARS

log = logging.getLogger("mmbench.api")

INT32 = (-(2**31), 2**31 - 1)
DEFAULT_LIMIT, MAX_LIMIT = 1000, 10_000
RECHECK_S = 1.0
BORROW_TIMEOUT_S = 30.0
_CHROMOSOME_RANK = {c: i for i, c in enumerate(CHROMOSOMES)}


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


# ---------------------------------------------------------------- the backend pool

_NOTHING = "-"  # the holdings marker of a namespace that holds nothing yet


class BackendPool:
    """Up to `size` instances of one backend, opened on demand, borrowed one per request."""

    def __init__(self, name: str, size: int = 4, opener: Callable[[str], Backend] = open_backend,
                 recheck_s: float = RECHECK_S) -> None:
        self.name, self.size, self.opener, self.recheck_s = name, max(1, size), opener, recheck_s
        self._idle: queue.LifoQueue[tuple[int, Backend]] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._opened = 0
        self._generation = 0
        self._loaded: str | None = None   # holdings fingerprint last seen
        self._checked = 0.0

    def _open(self) -> Backend:
        try:
            return self.opener(self.name)
        except BaseException:
            with self._lock:
                self._opened -= 1
            raise

    def _discard(self, backend: Backend) -> None:
        with self._lock:
            self._opened -= 1
        with contextlib.suppress(Exception):
            backend.close()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Backend]:
        """One instance for the duration of a request. An instance that lost its engine, or
        whose data was replaced by a load elsewhere, is closed instead of returned."""
        generation, backend = self._take()
        try:
            if self._due():
                backend = self._refresh(backend)
                generation = self._generation
            yield backend
        except EngineUnavailable:
            self._discard(backend)
            raise
        except BaseException:
            self._give_back(generation, backend)
            raise
        else:
            self._give_back(generation, backend)

    def _take(self) -> tuple[int, Backend]:
        while True:
            try:
                generation, backend = self._idle.get_nowait()
            except queue.Empty:
                break
            if generation == self._generation:
                return generation, backend
            self._discard(backend)
        with self._lock:
            can_open = self._opened < self.size
            if can_open:
                self._opened += 1
            generation = self._generation
        if can_open:
            return generation, self._open()
        try:
            generation, backend = self._idle.get(timeout=BORROW_TIMEOUT_S)
        except queue.Empty:
            raise ApiError(503, f"{self.name}: all {self.size} backend connections busy for "
                                f"{BORROW_TIMEOUT_S:.0f} s; try again") from None
        if generation != self._generation:
            self._discard(backend)
            return self._take()
        return generation, backend

    def _give_back(self, generation: int, backend: Backend) -> None:
        if generation == self._generation:
            self._idle.put((generation, backend))
        else:
            self._discard(backend)

    def _due(self) -> bool:
        return time.monotonic() - self._checked >= self.recheck_s

    def _refresh(self, backend: Backend) -> Backend:
        """Ask what the backend holds; if it changed since the last look, start a new
        generation (every pooled instance is replaced) and answer with a fresh instance."""
        self._checked = time.monotonic()
        seen = _fingerprint(backend)
        with self._lock:
            changed = self._loaded is not None and seen != self._loaded
            self._loaded = seen
            if changed:
                self._generation += 1
        if not changed:
            return backend
        self._discard(backend)
        with self._lock:
            self._opened += 1
        return self._open()

    def holdings(self) -> Holdings | None:
        """What the backend holds now (forces the check); NotLoaded if nothing was loaded."""
        self._checked = 0.0
        with self.borrow() as backend:
            return backend.holdings()

    def close(self) -> None:
        with self._lock:
            self._generation += 1
        while True:
            try:
                _, backend = self._idle.get_nowait()
            except queue.Empty:
                return
            self._discard(backend)


def _fingerprint(backend: Backend) -> str:
    try:
        h = backend.holdings()
    except NotLoaded:
        return _NOTHING
    return json.dumps(h.to_dict(), sort_keys=True, default=str) if h is not None else "none"


# ---------------------------------------------------------------- page tokens

def _sort_key(v: Variant) -> tuple[int, int, str]:
    return (_CHROMOSOME_RANK.get(v.chromosome, len(_CHROMOSOME_RANK)), v.position, v.variant_id)


def encode_token(chromosome: str | None, key: tuple[int, int, str]) -> str:
    raw = json.dumps({"v": 1, "c": chromosome, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str, chromosome: str | None) -> tuple[int, int, str]:
    bad = ApiError(400, "invalid `next` token: pass back the `next` value of the previous page unchanged")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = data["k"]
        if data.get("v") != 1 or not (isinstance(key, list) and len(key) == 3):
            raise bad
        rank, position, vid = key
        if not (isinstance(rank, int) and isinstance(position, int) and isinstance(vid, str)):
            raise bad
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if data.get("c") != chromosome:
        raise ApiError(400, "the `next` token belongs to another chromosome filter; keep the query's parameters "
                            "unchanged while paging")
    return rank, position, vid


def genomics_json(v: Variant) -> dict[str, Any]:
    return {"ID": v.variant_id, "Chromosome": v.chromosome, "Position": v.position,
            "Reference_Allele": v.reference_allele, "Alternate_Allele": v.alternate_allele,
            "Genotype": v.genotype, "Quality": v.quality, "Depth": v.depth, "Patient_ID": v.patient_id}


# ---------------------------------------------------------------- the app

_ERRORS = {s: {"model": ErrorBody} for s in (400, 404, 422, 502, 503)}


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in params.items()}


def _query_param(p: Any) -> tuple[Any, Any]:
    """(annotation, default) of one catalog parameter, typed for FastAPI and the OpenAPI document."""
    desc = p.type.name
    if p.type is INT:
        q = Query(ge=INT32[0], le=INT32[1], description=desc)
        return (int | None if p.optional else int), q
    if p.type is FLOAT:
        q = Query(allow_inf_nan=False, description=desc)
        return (float | None if p.optional else float), q
    if p.type is DATE:
        return (dt.date | None if p.optional else dt.date), Query(description=desc)
    if p.type is CHROMOSOME:
        q = Query(min_length=1, max_length=8, description=desc, examples=["4"])
    elif p.type is CODE:
        q = Query(min_length=1, max_length=16, description=desc, examples=["I10"])
    elif p.type is VARIANT_ID:
        q = Query(min_length=1, max_length=MAX_CHARS["variant_id"], description=desc)
    elif p.type is TEST_NAME:
        q = Query(min_length=1, max_length=MAX_CHARS["test_name"], description=desc)
    else:
        raise TypeError(f"no API type for parameter {p.name} ({p.type.name})")
    return (str | None if p.optional else str), q


def create_app(backend: str | None = None, *, pool_size: int = 4, opener: Callable[[str], Backend] = open_backend,
               recheck_s: float = RECHECK_S) -> FastAPI:
    """The API over `backend` (default: $MMBENCH_API_BACKEND, else sqlite)."""
    name = registration(backend or os.environ.get("MMBENCH_API_BACKEND") or "sqlite").name
    pool = BackendPool(name, pool_size, opener, recheck_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        yield
        pool.close()

    app = FastAPI(title="mmbench genomics API", version="1", lifespan=lifespan, redoc_url=None,
                  description=f"The lecture's genomics REST API, over the **{name}** backend of mmbench. Read-only.")
    app.state.pool = pool
    app.state.backend = name

    def call(fn: Callable[[Backend], Any]) -> Any:
        with pool.borrow() as b:
            return fn(b)

    # -- errors: JSON, one line, the right status; never a traceback

    def error(status: int, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"error": message, **extra}, status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.message, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:] or first["loc"])
        return error(422, f"{where}: {first['msg']}" if where else first["msg"], detail=detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = {404: f"no such path: {request.url.path}", 405: f"{request.method} is not allowed: this API is read-only (GET)"}
        resp = error(exc.status_code, message.get(exc.status_code, str(exc.detail)))
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(MMBenchError)
    async def _known(request: Request, exc: MMBenchError) -> JSONResponse:
        if isinstance(exc, (EngineUnavailable, DriverMissing, NotLoaded)):
            return error(503, first_line(exc), backend=name)
        if isinstance(exc, UsageError):
            return error(400, first_line(exc))
        if isinstance(exc, BackendError):
            return error(502, first_line(exc), backend=name)
        return error(400, first_line(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error answering %s", request.url.path, exc_info=exc)
        return error(500, f"internal error: {type(exc).__name__}: {first_line(exc)}", backend=name)

    # -- routes

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/health", summary="The backend, its engine and what it holds", responses=_ERRORS)
    def health() -> dict[str, Any]:
        try:
            held = pool.holdings()
            loaded: dict[str, Any] | None = held.to_dict() if held else None
        except NotLoaded:
            loaded = None
        info = call(lambda b: b.engine_info())
        return {"status": "ok", "backend": name, "holdings": loaded,
                "engine": {"product": info.product, "version": info.version, "emulator": info.emulator,
                           "address": info.address}}

    @app.get("/genomics", summary="Variant calls, paginated (the lecture's GET /genomics)", response_model=GenomicsPage,
             responses=_ERRORS)
    def genomics(
        chromosome: Annotated[str | None, Query(min_length=1, max_length=8, description="only calls on this chromosome (1-22, X, Y, MT)", examples=["4"])] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="calls per page")] = DEFAULT_LIMIT,
        next: Annotated[str | None, Query(max_length=512, description="the `next` token of the previous page")] = None,
    ) -> JSONResponse:
        chrom = None
        if chromosome is not None:
            chrom = CATALOG[Q.VARIANTS_BY_CHROMOSOME].parse_params({"chromosome": chromosome})["chromosome"]
        after = decode_token(next, chrom) if next else None
        calls = call(lambda b: b.variants_by_chromosome(chromosome=chrom) if chrom else b.all_variants())
        calls = sorted(calls, key=_sort_key)
        start = bisect.bisect_right([_sort_key(v) for v in calls], after) if after else 0
        page = calls[start:start + limit]
        more = start + limit < len(calls)
        token = encode_token(chrom, _sort_key(page[-1])) if more and page else None
        return JSONResponse({"items": [genomics_json(v) for v in page], "count": len(page), "next": token})

    @app.get("/genomics/{id}", summary="One variant call by ID", response_model=GenomicsVariant, responses=_ERRORS)
    def genomics_one(id: Annotated[str, Path(min_length=1, max_length=256, description="the call's ID")]) -> JSONResponse:
        vid = CATALOG[Q.VARIANT_BY_ID].parse_params({"variant_id": id})["variant_id"]
        found = call(lambda b: b.variant_by_id(variant_id=vid))
        if found is None:
            raise ApiError(404, f"no variant call with ID {vid!r}")
        return JSONResponse(genomics_json(found))

    @app.get("/queries", summary="The catalog's read queries and their parameters")
    def list_queries() -> list[dict[str, Any]]:
        return [{"name": q.value, "summary": CATALOG[q].summary, "path": f"/queries/{q.value}",
                 "params": [{"name": p.name, "type": p.type.name, "optional": p.optional} for p in CATALOG[q].params]}
                for q in READS]

    for q in READS:
        _add_query_route(app, CATALOG[q], call)

    @app.get("/queries/{name}", include_in_schema=False)
    def unknown_query(name: str) -> None:
        spec = CATALOG.get(name)  # type: ignore[call-overload]
        if spec is not None and spec.is_write:
            raise ApiError(404, f"{name} is a write; this API is read-only. Read queries: {', '.join(READS)}")
        raise ApiError(404, f"unknown query {name!r}; read queries: {', '.join(READS)}")

    return app


def _add_query_route(app: FastAPI, spec: QuerySpec, call: Callable[[Callable[[Backend], Any]], Any]) -> None:
    """GET /queries/<name> with the query's parameters typed from the catalog."""
    params = []
    for p in spec.params:
        annotation, default = _query_param(p)
        params.append(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY,
                                        annotation=Annotated[annotation, default],
                                        default=None if p.optional else inspect.Parameter.empty))

    def endpoint(**raw: Any) -> JSONResponse:
        given = {k: v for k, v in raw.items() if v is not None}
        parsed = spec.parse_params(given)  # the catalog's own checks (a known ICD-10 code, a chromosome...)
        answer = spec.canonical(call(lambda b: run_query(b, spec.name, parsed)))
        return JSONResponse({"query": spec.name.value, "params": _json_params(parsed), "answer": answer})

    endpoint.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    endpoint.__name__ = f"query_{spec.name.value}"
    from pydantic import create_model

    model = create_model(f"Answer_{spec.name.value}", query=(str, ...), params=(dict[str, Any], ...),
                         answer=(answer_model(spec.name), ...))
    app.add_api_route(f"/queries/{spec.name.value}", endpoint, methods=["GET"], summary=spec.summary,
                      response_model=model, responses=_ERRORS, tags=["queries"])
