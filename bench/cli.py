"""The `mmbench` command.

Every failure the user can act on (bad input, unknown names, an unreachable engine) is one
line on stderr and a non-zero exit status (2 for usage errors); set MMBENCH_DEBUG=1 for
tracebacks. `--namespace NAME` (or MMBENCH_NAMESPACE) before the command keeps a data set
apart from every other one: each backend puts it in the names it creates.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

import bench
from backends import REGISTRY, driver_installed, open_backend, registration
from backends.base import NAMESPACE_ENV, Backend, NotLoaded, namespace, run_query
from bench.cloud_cli import register as register_cloud_commands
from bench.datasets import DATASETS, file_dataset, make_dataset
from bench.loading import LoadTiming, timed_load
from models.catalog import CATALOG, READS, WRITES, Q, get_spec
from models.dataset import Dataset
from models.errors import MMBenchError, UsageError, first_line
from models.icd10 import with_descriptions
from models.vcf import VcfDataset

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Compare SQL and NoSQL data models on one patient / genomic-variant domain.")
# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _choices(name: str, values: list[str]) -> type[enum.Enum]:
    """A str Enum of `values`: typer shows them in help and offers them to shell completion."""
    return enum.Enum(name, [(v, v) for v in values], type=str)  # type: ignore[return-value]


BackendName = _choices("BackendName", list(REGISTRY))
DatasetName = _choices("DatasetName", list(DATASETS))
KeyChoice = _choices("KeyChoice", ["uniform", "zipfian"])
ReportFormat = _choices("ReportFormat", ["html", "json", "csv", "markdown", "pytest-benchmark"])


def _complete_list(values: list[str]) -> Callable[[str], list[str]]:
    """Completion for a comma-separated list option (`--backends sqlite,mo<TAB>`)."""
    def complete(incomplete: str) -> list[str]:
        head, _, last = incomplete.rpartition(",")
        return [f"{head},{v}" if head else v for v in values if v.startswith(last)]
    return complete


BackendOpt = Annotated[BackendName, typer.Option("--backend", "-b", help="The backend", show_default=False)]  # type: ignore[valid-type]
DatasetOpt = Annotated[DatasetName | None, typer.Option("--dataset", "-d", help="Reset and load this data set first")]  # type: ignore[valid-type]
ScaleOpt = Annotated[int, typer.Option("--scale", min=1, help="Synthetic size: N x 1,000 patients, N x 10,000 variant calls")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Synthetic data seed")]
BatchOpt = Annotated[int, typer.Option("--batch-size", min=1, help="Rows per bulk-load batch")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value, repeatable")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def _version(value: bool) -> None:
    if value:
        out.print(f"mmbench {bench.__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def options(
    namespace_: Annotated[str | None, typer.Option(
        "--namespace", envvar=NAMESPACE_ENV, metavar="NAME", help="Data namespace: keeps this data apart from every other run's "
        "(database, keyspace, table and label names carry it)")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit")] = False,
) -> None:
    """Compare SQL and NoSQL data models on one patient / genomic-variant domain."""
    if namespace_ is not None:
        os.environ[NAMESPACE_ENV] = namespace_
        namespace()  # validated now: one line, exit 2, before anything connects


# ---------------------------------------------------------------- loading and asking

def _open(name: str) -> Backend:
    registration(name)
    return open_backend(name)


def _load_with_progress(backend: Backend, data: Dataset, batch_size: int) -> LoadTiming:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def on_batch(kind: str, rows: int) -> None:
            if kind not in tasks:
                tasks[kind] = bar.add_task(f"{backend.name}: {kind}", total=None)
            bar.advance(tasks[kind], rows)

        return timed_load(backend, data, batch_size=batch_size, on_batch=on_batch)


def _validated(data: Dataset) -> Dataset:
    """`data` after reading it all once (DataError on the first bad value): before any engine is
    even opened, so bad input touches nothing and needs no engine."""
    if not data.valid_by_construction:
        data.validate()
    return data


def _replace_contents(backend: Backend, data: Dataset, batch_size: int) -> LoadTiming:
    """Load validated `data`: an atomic replace, so a load that fails part-way leaves what the
    backend held before."""
    return _load_with_progress(backend, data, batch_size)


@app.command()
def load(
    backend: BackendOpt,
    dataset: DatasetOpt = None,
    scale: ScaleOpt = 1,
    seed: SeedOpt = 42,
    csv: Annotated[str | None, typer.Option("--csv", help="A genomics CSV (the lecture's header): a path or s3://bucket/key")] = None,
    samples: Annotated[Path | None, typer.Option(help="CSV ID,Patient_ID for --csv")] = None,
    patients: Annotated[Path | None, typer.Option(help="patients JSON file")] = None,
    diagnoses: Annotated[Path | None, typer.Option(help="diagnoses JSON file")] = None,
    lab_results: Annotated[Path | None, typer.Option("--lab-results", help="lab results JSON file")] = None,
    vcf: Annotated[Path | None, typer.Option("--vcf", help="A VCF file (plain or gzip): samples become patients, genotype calls variants")] = None,
    batch_size: BatchOpt = 5000,
) -> None:
    """Replace what BACKEND holds with a data set (validated first: bad input loads nothing)."""
    files = (csv, samples, patients, diagnoses, lab_results)
    if sum(bool(x) for x in (dataset, any(files), vcf)) > 1:
        raise UsageError("give one of --dataset, --vcf FILE or files (--csv, --patients, ...)")
    if dataset:
        data = make_dataset(dataset.value, scale=scale, seed=seed)
    elif vcf:
        data = VcfDataset(vcf)
    elif any(files):
        data = file_dataset(csv, samples, patients, diagnoses, lab_results)
    else:
        raise UsageError(f"say what to load: --dataset ({', '.join(DATASETS)}), --vcf FILE or --csv FILE")
    _validated(data)
    with _open(backend.value) as b:
        timing = _replace_contents(b, data, batch_size)
        info = b.engine_info()
    table = Table(title=f"loaded into {backend.value} ({info.product} {info.version}{', emulator' if info.emulator else ''})")
    for col in ("entity", "rows", "rows/s", "insert s", "index s"):
        table.add_column(col, justify="right" if col != "entity" else "left")
    for kind, k in timing.kinds.items():
        table.add_row(kind, f"{k.rows:,}", f"{k.rows_per_s:,.0f}", f"{k.write_s:.3f}", f"{k.index_s:.3f}")
    out.print(table)
    skipped = data.describe().get("skipped")  # e.g. VCF records on unplaced contigs
    if skipped:
        err.print("skipped: " + ", ".join(f"{n:,} {what}" for what, n in skipped.items()), highlight=False)


def _parse_kv(pairs: list[str]) -> dict[str, str]:
    raw: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-p expects key=value, got {pair!r}")
        if key.strip() in raw:
            raise UsageError(f"-p {key.strip()}: given twice")
        raw[key.strip()] = value
    return raw


def _say_holdings(b: Backend) -> None:
    """One line when the data the backend answers over has grown past the data set loaded."""
    try:
        held = b.holdings()
    except Exception:  # noqa: BLE001 - a hint must never fail a query
        return
    if held is not None and held.writes_since:
        err.print(f"{b.name} holds {held.describe()}", highlight=False, markup=False)


@app.command()
def query(
    name: Annotated[str, typer.Argument(help="A catalog query (see `mmbench queries`)", autocompletion=lambda: [q.value for q in Q])],
    backend: BackendOpt,
    dataset: DatasetOpt = None,
    scale: ScaleOpt = 1,
    seed: SeedOpt = 42,
    param: ParamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the canonical answer as JSON")] = False,
    explain_: Annotated[bool, typer.Option("--explain", help="Then explain it: statements, plan, work")] = False,
) -> None:
    """Answer one catalog query. With --dataset, first load the data set (replacing what BACKEND held)."""
    spec = get_spec(name)
    params = spec.parse_params(_parse_kv(param or []))
    with _open(backend.value) as b:
        if dataset:
            _replace_contents(b, make_dataset(dataset.value, scale=scale, seed=seed), 5000)
        else:
            _say_holdings(b)
        answer = spec.canonical(run_query(b, spec.name, params))
        explanation = b.explain(spec.name, params) if explain_ else None
    if as_json:
        payload: Any = answer if explanation is None else {"answer": answer, "explain": explanation.to_dict()}
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    _print_answer(spec.name, with_descriptions(answer) if spec.name is Q.PATIENT_BY_ID else answer)
    if explanation is not None:
        from bench.explain_view import print_explanation

        print_explanation(out, spec, explanation)


def _print_answer(title: str, answer: Any) -> None:
    if answer is None:
        out.print(f"{title}: none" if not CATALOG[Q(title)].is_write else f"{title}: done")
        return
    rows = answer if isinstance(answer, list) else [answer]
    if not rows:
        out.print(f"{title}: no rows")
        return
    table = Table(title=f"{title} ({len(rows)} rows)")
    for col in rows[0]:
        table.add_column(col)
    for row in rows:
        table.add_row(*(json.dumps(v) if isinstance(v, (list, dict)) else str(v) for v in row.values()))
    out.print(table)


@app.command()
def explain(
    name: Annotated[str, typer.Argument(help="A catalog query (see `mmbench queries`)", autocompletion=lambda: [q.value for q in Q])],
    backend: BackendOpt,
    dataset: DatasetOpt = None,
    scale: ScaleOpt = 1,
    seed: SeedOpt = 42,
    param: ParamOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Why a query costs what it costs: the statements sent, the engine's plan and the work it did."""
    from bench.explain_view import print_explanation

    spec = get_spec(name)
    params = spec.parse_params(_parse_kv(param or []))
    with _open(backend.value) as b:
        if dataset:
            _replace_contents(b, make_dataset(dataset.value, scale=scale, seed=seed), 5000)
        explanation = b.explain(spec.name, params)
    if as_json:
        sys.stdout.write(json.dumps(explanation.to_dict(), indent=2, default=str) + "\n")
    else:
        print_explanation(out, spec, explanation)


@app.command()
def queries(as_json: JsonOpt = False) -> None:
    """List the query catalog."""
    if as_json:
        rows = [{"query": s.name.value, "kind": s.kind.value, "parameters": [
            {"name": p.name, "type": p.type.name, "optional": p.optional} for p in s.params], "answer": s.summary}
            for s in CATALOG.values()]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="query catalog")
    for col in ("query", "kind", "parameters", "answer"):
        table.add_column(col)
    for spec in CATALOG.values():
        table.add_row(spec.name, spec.kind, spec.signature() or "-", spec.summary)
    out.print(table)


@app.command()
def backends(as_json: JsonOpt = False) -> None:
    """List the registered backends (and schema designs) and whether their Python driver is installed."""
    rows = []
    for reg in REGISTRY.values():
        ok = driver_installed(reg.name)
        rows.append({"backend": reg.name, "model": reg.model, "design": reg.design,
                     "engine": reg.engine or "embedded", "design_summary": reg.summary,
                     "driver_installed": ok, "install": None if ok else f"pip install -e '.[{reg.extra}]'"})
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="backends")
    for col in ("backend", "model", "design", "local engine", "driver installed"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["backend"], r["model"], f"{r['design']}: {r['design_summary']}", r["engine"],
                      "yes" if r["driver_installed"] else f"no: {r['install']}")
    out.print(table)


# ---------------------------------------------------------------- local engines

def _engine_names() -> list[str]:
    from bench.engines import ENGINE_NAMES

    return [*ENGINE_NAMES, *REGISTRY]


EnginesArg = Annotated[list[str] | None, typer.Argument(
    help="Engines or backends (default: every engine)", autocompletion=_engine_names, show_default=False)]


def _engines(names: list[str] | None) -> list[Any]:
    """The engines named (engine or backend names; embedded backends have none), all by default."""
    from bench.engines import ENGINE_NAMES, EngineError, engine_name, get_engine

    try:
        chosen = [e for e in dict.fromkeys(engine_name(n) for n in names or ENGINE_NAMES) if e]
        return [get_engine(n) for n in chosen]
    except EngineError as exc:
        raise UsageError(str(exc)) from None


def _engine_status_rows(statuses: list[Any]) -> list[dict[str, Any]]:
    return [{"engine": s.name, "product": s.product, "version": s.version, "address": s.address,
             "emulator": s.emulator, "pid": s.pid, "up": s.up} for s in statuses]


def _status_rows(engines: list[Any]) -> list[dict[str, Any]]:
    """Each engine, then its extra processes (ring nodes, a replica), each on a row of its own."""
    statuses = []
    for e in engines:
        statuses.append(e.status())
        for extra in _extras(e.name):
            more = extra.status()
            statuses += more if isinstance(more, list) else [more]
    return _engine_status_rows(statuses)


def _status_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="local engines")
    for col in ("engine", "product", "version", "address", "emulator", "pid", "state"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["engine"], r["product"], r["version"] or "-", r["address"], "yes" if r["emulator"] else "no",
                      str(r["pid"] or "-"), "[green]up[/green]" if r["up"] else "[red]down[/red]")
    return table


def _holdings_rows(engine_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What each backend whose engine is up (or embedded) holds in this namespace."""
    up = {r["engine"] for r in engine_rows if r["up"]}
    rows = []
    for reg in REGISTRY.values():
        if (reg.engine is not None and reg.engine not in up) or not driver_installed(reg.name):
            continue
        try:
            with open_backend(reg.name) as b:
                held = b.holdings()
                rows.append({"backend": reg.name, "holds": held.to_dict() if held else None,
                             "text": held.describe() if held else "a schema without a recorded data set"})
        except NotLoaded:
            rows.append({"backend": reg.name, "holds": None, "text": "nothing loaded"})
        except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
            rows.append({"backend": reg.name, "holds": None, "text": f"cannot ask: {first_line(exc)}"})
    return rows


@app.command()
def up(names: EnginesArg = None,
       timeout: Annotated[float | None, typer.Option(help="Seconds to wait for each engine")] = None,
       nodes: Annotated[int, typer.Option("--nodes", min=1, help="cassandra: a local ring of N nodes on "
                                          "127.0.0.2.. beside the single node (3 for the consistency demo)")] = 1,
       replica: Annotated[bool, typer.Option("--replica", help="postgres: also a streaming replica on another port")] = False,
       ) -> None:
    """Start local engines without Docker (downloads once into ~/.cache/mmbench)."""
    from bench.engines import EngineError

    failed = []
    for engine in _engines(names):
        with err.status(f"{engine.name}: starting") as spinner:
            say = lambda msg, e=engine: spinner.update(f"{e.name}: {msg}")  # noqa: E731
            try:
                engine.start(progress=say, timeout=timeout)
                for extra in _extras(engine.name, nodes, replica, create=True):
                    extra.start(progress=say, timeout=timeout)
            except EngineError as exc:
                lines = str(exc).splitlines()
                err.print(f"[red]{engine.name}:[/red] {lines[0]}", highlight=False)
                for line in lines[1:]:
                    err.print(f"    {line}", highlight=False, markup=False)
                failed.append(engine.name)
    out.print(_status_table(_status_rows(_engines(names))))
    if failed:
        raise MMBenchError(f"could not start: {', '.join(failed)}")


def _extras(engine: str, nodes: int = 1, replica: bool = False, *, create: bool = False) -> list[Any]:
    """The engine's extra processes: a Cassandra ring (`--nodes N`), a PostgreSQL replica
    (`--replica`) — asked for now (`create`), or started before (for status and down)."""
    out: list[Any] = []
    if engine == "cassandra":
        from bench.engines.cassandra import CassandraRing

        if create and nodes > 1:
            out.append(CassandraRing(nodes))
        elif (ring := CassandraRing.existing()) is not None and (not create or nodes > 1):
            out.append(ring)
    if engine == "postgres":
        from bench.engines import postgres

        replica_class = getattr(postgres, "Replica", None)
        if replica_class is not None and (replica if create else replica_class().pid() is not None):
            out.append(replica_class())
    return out


@app.command()
def down(names: EnginesArg = None) -> None:
    """Stop local engines started by `mmbench up`, rings and replicas included (exit status 1 if
    one is still running)."""
    from bench.engines import EngineError

    still = []
    for engine in reversed(_engines(names)):
        with err.status(f"{engine.name}: stopping"):
            for part in [*_extras(engine.name), engine]:
                try:
                    part.stop()
                except (EngineError, OSError) as exc:
                    err.print(f"{engine.name}: {first_line(exc)}", highlight=False, markup=False)
        if engine.pid() is not None or any(_running(x) for x in _extras(engine.name)):
            still.append(engine.name)
    out.print(_status_table(_status_rows(_engines(names))))
    if still:
        raise MMBenchError(f"still running: {', '.join(still)}")


def _running(extra: Any) -> bool:
    statuses = extra.status()
    return any(s.pid is not None for s in (statuses if isinstance(statuses, list) else [statuses]))


node_app = typer.Typer(no_args_is_help=True, help="Stop or start one node of a local Cassandra ring.")
app.add_typer(node_app, name="node")


def _ring(engine: str) -> Any:
    from bench.engines.cassandra import CassandraRing

    if engine != "cassandra":
        raise UsageError(f"node: only cassandra runs as a ring here, not {engine!r}")
    ring = CassandraRing.existing()
    if ring is None:
        raise UsageError("no local Cassandra ring: start one with `mmbench up cassandra --nodes 3`")
    return ring


@node_app.command("stop")
def node_stop(engine: Annotated[str, typer.Argument(help="cassandra")],
              index: Annotated[int, typer.Argument(help="The node, 1-based")],
              kill: Annotated[bool, typer.Option("--kill", help="kill -9 (a crash) instead of a clean stop")] = False) -> None:
    """Stop node INDEX of the ring: cleanly, or with --kill as a crash."""
    from bench.engines import EngineError

    ring = _ring(engine)
    try:
        with err.status(f"cassandra node {index}: {'killing' if kill else 'stopping'}"):
            ring.stop_node(index, kill=kill)
    except EngineError as exc:
        raise MMBenchError(first_line(exc)) from None
    out.print(_status_table(_engine_status_rows(ring.status())))


@node_app.command("start")
def node_start(engine: Annotated[str, typer.Argument(help="cassandra")],
               index: Annotated[int, typer.Argument(help="The node, 1-based")]) -> None:
    """Start node INDEX of the ring again and wait until the others see it."""
    from bench.engines import EngineError

    ring = _ring(engine)
    try:
        with err.status(f"cassandra node {index}: starting") as spinner:
            ring.start_node(index, progress=lambda m: spinner.update(f"cassandra node {index}: {m}"))
    except EngineError as exc:
        raise MMBenchError(first_line(exc)) from None
    out.print(_status_table(_engine_status_rows(ring.status())))


@app.command()
def status(names: EnginesArg = None, as_json: JsonOpt = False) -> None:
    """Each local engine (version, address, emulator or not, pid, up or down) and what each backend
    holds in this namespace. Exit status 1 if an engine asked about is down."""
    rows = _status_rows(_engines(names))
    held = _holdings_rows(rows)
    if as_json:
        sys.stdout.write(json.dumps({"namespace": namespace(), "engines": rows, "backends": held}, indent=2) + "\n")
    else:
        out.print(_status_table(rows))
        table = Table(title=f"what each backend holds (namespace {namespace() or 'default'})")
        table.add_column("backend")
        table.add_column("holds")
        for r in held:
            table.add_row(r["backend"], r["text"])
        out.print(table)
    down_ = [r["engine"] for r in rows if not r["up"]]
    if down_:
        raise MMBenchError(f"down: {', '.join(down_)}")


# ---------------------------------------------------------------- the benchmark (run, report, compare)

def _csv(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _query_selection(text: str) -> tuple[Q, ...]:
    groups = {"all": (*READS, *WRITES), "reads": READS, "writes": WRITES, "none": ()}
    picked: list[Q] = []
    for name in _csv(text) or ["none"]:
        picked.extend(groups[name] if name in groups else (get_spec(name).name,))
    return tuple(dict.fromkeys(picked))


@app.command()
def run(
    backends_: Annotated[str | None, typer.Option("--backends", help="Comma-separated backends (default: sqlite and every engine that answers)",
                                                  autocompletion=_complete_list(list(REGISTRY)))] = None,
    queries_: Annotated[str, typer.Option("--queries", help="Comma-separated queries, or all, reads, writes, none",
                                          autocompletion=_complete_list([*(q.value for q in Q), "all", "reads", "writes", "none"]))] = "all",
    workloads: Annotated[str, typer.Option("--workloads", help="Mixed workloads A-F (YCSB-style), comma-separated, all or none")] = "none",
    dataset: Annotated[str, typer.Option("--dataset", "-d", help=f"Data sets, comma-separated: {', '.join(DATASETS)}",
                                         autocompletion=_complete_list(list(DATASETS)))] = "seed,synthetic",
    scale: ScaleOpt = 1,
    seed: SeedOpt = 42,
    ops: Annotated[int | None, typer.Option("--ops", min=1, help="Timed operations per phase and round", show_default="500")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Seconds per phase and round, instead of --ops")] = None,
    max_time: Annotated[float, typer.Option("--max-time", help="With --ops: a phase stops after this many seconds")] = 0.5,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed operations per phase before timing")] = 20,
    repeat: Annotated[int, typer.Option("--repeat", min=1, help="Rounds per phase, backends interleaved in a shuffled order each round")] = 1,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Processes, each with its own connection")] = 1,
    rate: Annotated[float | None, typer.Option("--rate", help="Open loop: operations per second (all workers)")] = None,
    keys: Annotated[KeyChoice, typer.Option("--keys", help="Workload key choice")] = KeyChoice("uniform"),  # type: ignore[valid-type]
    out_dir: Annotated[Path, typer.Option("--out", help="A directory for the results file, or a new FILE.json")] = Path("results"),
    verify: Annotated[bool, typer.Option("--verify", help="Check each query's answer against the reference first")] = False,
    html: Annotated[bool, typer.Option("--html", help="Also write the HTML report next to the results file")] = False,
    no_load: Annotated[bool, typer.Option("--no-load", help="Measure what each backend holds (it must be the data set asked for)")] = False,
    no_explain: Annotated[bool, typer.Option("--no-explain", help="Do not explain each phase's first question")] = False,
    via: Annotated[str, typer.Option("--via", help="direct, api (the read queries through `mmbench serve`'s HTTP API), "
                                     "or direct,api: both, to see what the service layer adds")] = "direct",
    batch_size: BatchOpt = 5000,
) -> None:
    """Benchmark: per data set, load every backend, then time every query and workload in rounds."""
    from bench.report import html_report, terminal_tables
    from bench.results import check_output, load_results
    from bench.runner import RunSettings, Runner, Target, default_targets
    from bench.workloads import parse_workloads

    if ops is not None and duration is not None:
        raise UsageError("give --ops or --duration, not both")
    for flag, number in (("--duration", duration), ("--rate", rate), ("--max-time", max_time)):
        if number is not None and number <= 0:
            raise UsageError(f"{flag} must be positive, not {number}")
    datasets = _csv(dataset)
    for name in datasets:
        if name not in DATASETS:
            raise UsageError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    check_output(out_dir)  # before anything runs: no measurement is lost to an unusable --out
    vias = _csv(via)
    if not vias or not set(vias) <= {"direct", "api"}:
        raise UsageError(f"--via {via!r}: direct, api or direct,api")
    names = _csv(backends_)
    targets = [Target.registered(registration(n).name) for n in dict.fromkeys(names)] if names else default_targets()
    settings = RunSettings(
        datasets=tuple(datasets), scale=scale, seed=seed, queries=_query_selection(queries_),
        workloads=tuple(w.letter for w in parse_workloads(workloads)), ops=ops or RunSettings.ops, duration_s=duration,
        max_time_s=max_time, warmup=warmup, workers=workers, rate=rate, keys=keys.value, verify=verify,
        batch_size=batch_size, repeat=repeat, load=not no_load, explain=not no_explain, namespace=namespace())
    if not settings.phases():
        raise UsageError("nothing to run: --queries none and --workloads none")
    if "api" in vias and (any(CATALOG[q].is_write for q in settings.queries) or settings.workloads):
        raise UsageError("--via api runs read queries only (the API is read-only): add --queries reads")
    with contextlib.ExitStack() as stack, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), console=err, transient=True) as bar:
        if "api" in vias:
            targets = _via_api(targets, keep_direct="direct" in vias, stack=stack)
        runner = Runner(settings, targets, say=lambda m: bar.console.print(m, highlight=False, markup=False),
                        tick=lambda n, what: bar.update(task, advance=n, description=what or "running"))
        task = bar.add_task("starting", total=runner.total_steps())
        doc = runner.run()
    path = doc.write(out_dir)
    for table in terminal_tables([doc.validated().dump()]):
        out.print(table)
    out.print(f"results: {path}")
    if html:
        out.print(f"report: {html_report([load_results(path)], path.with_suffix('.html'))}")
    if doc.data["status"] == "interrupted":
        raise _RunInterrupted(f"interrupted; what was measured is in {path}")
    if doc.data["status"] == "failures":
        raise MMBenchError(f"some backends or phases failed (see the table); results in {path}")


def _via_api(targets: list[Any], *, keep_direct: bool, stack: contextlib.ExitStack) -> list[Any]:
    """Each target also (or only) through the HTTP API: `<backend>+api`, one `mmbench serve`
    process per backend, shared by all workers (api/client.py)."""
    from api.client import ApiServer, open_api_backend
    from bench.runner import Target

    out = []
    for t in targets:
        server = stack.enter_context(ApiServer(t.name))
        api = Target(f"{t.name}+api", functools.partial(open_api_backend, t.name, server.url), t.requested)
        out += ([t] if keep_direct else []) + [api]
    return out


class _RunInterrupted(MMBenchError):
    exit_code = 130


ResultsArg = Annotated[list[str], typer.Argument(help="Results files (results/*.json), or latest")]


@app.command()
def report(
    results: ResultsArg,
    html: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report here")] = None,
    format_: Annotated[ReportFormat | None, typer.Option("--format", help="Print (or with --output write) the results in this format")] = None,  # type: ignore[valid-type]
    output: Annotated[Path | None, typer.Option("--output", "-o", help="With --format: write here instead of printing")] = None,
) -> None:
    """The comparison table of results files; --html or --format html writes the HTML report;
    --format json|csv|markdown|pytest-benchmark exports one row per (backend, data set, phase)."""
    from bench.export import export
    from bench.report import html_report, terminal_tables
    from bench.results import load_all, resolve

    docs = load_all(resolve(r) for r in results)
    if format_ is None or format_.value == "html":
        target = html or output or (Path(docs[0]["_path"]).with_suffix(".html") if format_ is not None else None)
        if target is None:
            for table in terminal_tables(docs):
                out.print(table)
        else:
            out.print(f"report: {html_report(docs, target)}")
        return
    text = export(docs, format_.value)
    if output:
        output.write_text(text)
        out.print(f"{format_.value}: {output}")
    else:
        sys.stdout.write(text)


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="Results file A (the baseline), or latest")],
    b: Annotated[str, typer.Argument(help="Results file B, or latest")],
    fail_on: Annotated[str | None, typer.Option("--fail-on", help="Exit 1 on a significant regression beyond this, e.g. p50:10%")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare two runs: per backend, data set and phase, B / A with its 95% interval and a verdict
    (faster / slower only when the interval excludes 1, else ≈). --fail-on makes it a CI gate."""
    from bench.compare import compare_runs, compare_table, parse_threshold, regressions
    from bench.results import load_results, resolve

    threshold = parse_threshold(fail_on) if fail_on else None
    doc_a, doc_b = load_results(resolve(a)), load_results(resolve(b))
    rows, warnings = compare_runs(doc_a, doc_b)
    bad = regressions(rows, threshold) if threshold else []
    if as_json:
        sys.stdout.write(json.dumps({"a": doc_a["id"], "b": doc_b["id"], "rows": rows, "warnings": warnings,
                                     "regressions": bad}, indent=2) + "\n")
    else:
        out.print(compare_table(doc_a, doc_b, rows))
        for note in warnings:
            err.print(f"warning: the runs differ: {note}", highlight=False, markup=False)
    if bad:
        raise MMBenchError(f"{len(bad)} significant regression(s) beyond {fail_on}: "
                           + "; ".join(f"{r['backend']} {r['dataset']} {r['phase']} ×{r['p50']['value']:.2f}" for r in bad[:3]))


@app.command()
def sweep(
    scales: Annotated[str, typer.Option("--scales", help="Comma-separated synthetic scales")] = "1,2,5,10,20",
    backends_: Annotated[str | None, typer.Option("--backends", help="Comma-separated backends (default: sqlite and every engine that answers)",
                                                  autocompletion=_complete_list(list(REGISTRY)))] = None,
    queries_: Annotated[str, typer.Option("--queries", help="Comma-separated read queries, or reads")] = "reads",
    seed: SeedOpt = 42,
    ops: Annotated[int, typer.Option("--ops", min=1, help="Timed operations per query and scale")] = 200,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed operations first")] = 10,
    max_time: Annotated[float, typer.Option("--max-time", help="A phase stops after this many seconds")] = 2.0,
    out_dir: Annotated[Path, typer.Option("--out", help="Directory: the sweep gets a folder of its own in it")] = Path("results"),
    html: Annotated[bool, typer.Option("--html", help="Also write the HTML report (log-log plots, exponents)")] = False,
) -> None:
    """How cost grows with data: load each scale, time the queries, fit cost ∝ size^k per backend."""
    from bench.results import check_output
    from bench.sweep import exponent_text, run_sweep, sweep_html

    try:
        sizes = sorted({int(x) for x in _csv(scales)})
    except ValueError:
        raise UsageError(f"--scales {scales!r}: comma-separated whole numbers, e.g. 1,2,5") from None
    if len(sizes) < 2 or sizes[0] < 1:
        raise UsageError("--scales: at least two scales, each at least 1")
    chosen = _query_selection(queries_)
    if any(CATALOG[q].is_write for q in chosen):
        raise UsageError("--queries: a sweep measures reads only")
    check_output(out_dir)
    names = [registration(n).name for n in _csv(backends_)] or None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task("sweep", total=None)
        result, summary = run_sweep(sizes, names, chosen, seed=seed, ops=ops, warmup=warmup, max_time_s=max_time,
                                    out_dir=out_dir, say=lambda m: bar.console.print(m, highlight=False, markup=False),
                                    tick=lambda n, what: bar.update(task, advance=n, description=what or "sweep"))
    table = Table(title="growth exponents k (cost ∝ scale^k) with 95% interval")
    for col in ("query", "backend", "k of p50", "k of records examined"):
        table.add_column(col)
    for backend, per_query in result.fits.items():
        for query, fits in per_query.items():
            table.add_row(query, backend, exponent_text(fits.get("p50_us")), exponent_text(fits.get("examined")))
    out.print(table)
    out.print(f"sweep: {summary}")
    if html:
        out.print(f"report: {sweep_html(result, summary.with_suffix('.html'))}")


@app.command()
def demo(
    name: Annotated[str | None, typer.Argument(help="A demo (see --list)")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the demos and what each asks")] = False,
    backend: Annotated[str | None, typer.Option("--backend", "-b", help="Run it on this backend where it offers a choice")] = None,
    scale: Annotated[int | None, typer.Option("--scale", min=1, help="Synthetic scale (demos that sweep: the largest)")] = None,
    seed: SeedOpt = 42,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Directory for the plot(s) and the JSON result")] = None,
) -> None:
    """Named trade-off demos: each asks a question, measures the alternatives on the same data,
    prints a table and a takeaway derived from this run's numbers, and writes a plot."""
    from bench.demos import DEMOS, Context, all_demos, get_demo
    from bench.demos.base import cell_text

    if list_ or name is None:
        table = Table(title="demos")
        for col in ("demo", "backends", "question"):
            table.add_column(col)
        for d in all_demos():
            table.add_row(d.name, ", ".join(d.backends) + (f" ({d.needs})" if d.needs else ""), d.question)
        out.print(table)
        if name is None and not list_:
            raise UsageError(f"say which demo: mmbench demo NAME ({', '.join(DEMOS)})")
        return
    chosen = get_demo(name)
    if backend is not None:
        registration(backend)
    ctx = Context(chosen.name, backend=backend, scale=scale, seed=seed, out_dir=out_dir or Path("results") / "demos",
                  say=lambda m: err.print(m, highlight=False, markup=False))
    try:
        result = chosen.run(ctx)
    finally:
        ctx.close()
    result.engines = {**ctx.engines, **result.engines}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{chosen.name}.json").write_text(result.to_json() + "\n")
    if as_json:
        sys.stdout.write(result.to_json() + "\n")
        return
    out.print(f"[bold]{chosen.name}[/bold]: {result.question}", highlight=False)
    table = Table()
    for col in result.columns:
        table.add_column(col, justify="left" if col in result.columns[:2] else "right")
    for row in result.rows:
        table.add_row(*(cell_text(row.get(col)) for col in result.columns))
    out.print(table)
    for engine, what in result.engines.items():
        out.print(f"[dim]{engine}: {what}[/dim]", highlight=False)
    for note in result.notes:
        out.print(f"note: {note}", style="yellow", highlight=False)
    out.print(f"[bold]takeaway:[/bold] {result.takeaway}", highlight=False)
    for plot in result.plots:
        out.print(f"plot: {plot}", highlight=False)


# ---------------------------------------------------------------- entry point

class _OneLine(logging.Formatter):
    """Libraries' log records as one line each, without tracebacks (MMBENCH_DEBUG=1 shows them)."""

    def format(self, record: logging.LogRecord) -> str:
        if os.environ.get("MMBENCH_DEBUG"):
            return super().format(record)
        return f"mmbench: {record.name}: {first_line(record.getMessage())}"


def _library_logs() -> None:
    """Drivers' own log records stay quiet: every failure a user can act on reaches them as the
    backend's one-line error; what drivers log on the way (a pool failing to reset a connection
    to a dead engine, a statement prepared on a keyspace not created yet) would only repeat it,
    with a traceback. Only critical records print, as one line; MMBENCH_DEBUG=1 shows them all."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if os.environ.get("MMBENCH_DEBUG") else logging.CRITICAL)


register_cloud_commands(app)  # s3, etl, import-table, scan-table, serve: bench/cloud_cli.py


def _fail(message: str, code: int) -> NoReturn:
    err.print("[red]mmbench:[/red] " + escape(message), highlight=False, soft_wrap=True)  # data may hold "[/]"
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every expected failure into one line."""
    _library_logs()
    try:
        code = app(args=argv, standalone_mode=False, prog_name="mmbench")  # a command's typer.Exit(n) comes back as n
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except MMBenchError as exc:
        _fail(str(exc), exc.exit_code)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        _fail("interrupted", 130)
    except typer.TyperException as exc:  # click's usage errors (typer's public base of them)
        text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = text.replace("\n", " ").strip()
        if not message:  # `mmbench` alone: the help was printed
            raise SystemExit(2) from None
        _fail(message, 2)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a driver or engine error we did not foresee: still one line
        if os.environ.get("MMBENCH_DEBUG"):
            raise
        _fail(f"{type(exc).__name__}: {first_line(exc)} (MMBENCH_DEBUG=1 shows the traceback)", 1)


if __name__ == "__main__":
    main()
