"""The `mmbench` command.

Every failure the user can act on (bad input, unknown names, an unreachable engine) is one
line on stderr and a non-zero exit status (2 for usage errors); set MMBENCH_DEBUG=1 for
tracebacks.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer

try:  # typer >= 0.20 carries its own copy of click
    from typer._click import exceptions as _typer_click
except ImportError:  # pragma: no cover
    _typer_click = click.exceptions
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backends import REGISTRY, driver_installed, open_backend, registration
from backends.base import Backend, run_query
from bench.datasets import DATASETS, file_dataset, make_dataset
from bench.loading import LoadTiming, timed_load
from models.catalog import CATALOG, Q, get_spec
from models.dataset import Dataset
from models.errors import MMBenchError, UsageError, first_line
from models.icd10 import with_descriptions
from models.vcf import VcfDataset

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compare SQL and NoSQL data models on one patient / genomic-variant domain.")
# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

BackendOpt = Annotated[str, typer.Option("--backend", "-b", help=f"One of: {', '.join(REGISTRY)}")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", "-d", help=f"One of: {', '.join(DATASETS)}")]
ScaleOpt = Annotated[int, typer.Option("--scale", help="Synthetic size: N x 1,000 patients, N x 10,000 variant calls")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Synthetic data seed")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Rows per bulk-load batch")]


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


def _replace_contents(backend: Backend, data: Dataset, batch_size: int) -> LoadTiming:
    """Validate `data` fully (nothing is touched on bad input), then reset and load."""
    if not data.valid_by_construction:
        data.validate()
    backend.reset()
    return _load_with_progress(backend, data, batch_size)


@app.command()
def load(
    backend: BackendOpt,
    dataset: DatasetOpt = None,
    scale: ScaleOpt = 1,
    seed: SeedOpt = 42,
    csv: Annotated[Path | None, typer.Option("--csv", help="A genomics CSV (the lecture's header)")] = None,
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
        data = make_dataset(dataset, scale=scale, seed=seed)
    elif vcf:
        data = VcfDataset(vcf)
    elif any(files):
        data = file_dataset(csv, samples, patients, diagnoses, lab_results)
    else:
        raise UsageError(f"say what to load: --dataset ({', '.join(DATASETS)}), --vcf FILE or --csv FILE")
    with _open(backend) as b:
        timing = _replace_contents(b, data, batch_size)
        info = b.engine_info()
    table = Table(title=f"loaded into {backend} ({info.product} {info.version}{', emulator' if info.emulator else ''})")
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
        raw[key.strip()] = value
    return raw


@app.command()
def query(
    name: Annotated[str, typer.Argument(help="A catalog query (see `mmbench queries`)")],
    backend: BackendOpt,
    dataset: DatasetOpt = None,
    scale: ScaleOpt = 1,
    seed: SeedOpt = 42,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value, repeatable")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the canonical answer as JSON")] = False,
) -> None:
    """Answer one catalog query. With --dataset, first reset BACKEND and load the data set."""
    spec = get_spec(name)
    registration(backend)
    params = spec.parse_params(_parse_kv(param or []))
    with _open(backend) as b:
        if dataset:
            _replace_contents(b, make_dataset(dataset, scale=scale, seed=seed), 5000)
        answer = spec.canonical(run_query(b, spec.name, params))
    if as_json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    else:  # descriptions are for reading only: the canonical (--json) answer stays exact
        _print_answer(spec.name, with_descriptions(answer) if spec.name is Q.PATIENT_BY_ID else answer)


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
def queries() -> None:
    """List the query catalog."""
    table = Table(title="query catalog")
    for col in ("query", "kind", "parameters", "answer"):
        table.add_column(col)
    for spec in CATALOG.values():
        table.add_row(spec.name, spec.kind, spec.signature() or "-", spec.summary)
    out.print(table)


@app.command()
def backends() -> None:
    """List the registered backends and whether their Python driver is installed."""
    table = Table(title="backends")
    for col in ("backend", "model", "engine", "driver installed"):
        table.add_column(col)
    for reg in REGISTRY.values():
        ok = driver_installed(reg.name)
        engine = "embedded" if not reg.server else ("emulator (local)" if reg.emulated else "server")
        table.add_row(reg.name, reg.model, engine,
                      "yes" if ok else f"no: pip install -e '.[{reg.extra}]'")
    out.print(table)


EnginesArg = Annotated[list[str] | None, typer.Argument(help="Engines (default: all): postgres dynamodb mongodb cassandra neo4j")]


def _engines(names: list[str] | None) -> list[Any]:
    """The engines named (engine or backend names; embedded backends have none), all by default."""
    from bench.engines import ENGINE_NAMES, EngineError, engine_name, get_engine

    try:
        chosen = [e for e in dict.fromkeys(engine_name(n) for n in names or ENGINE_NAMES) if e]
        return [get_engine(n) for n in chosen]
    except EngineError as exc:
        raise UsageError(str(exc)) from None


def _status_table(rows: list[Any]) -> Table:
    table = Table(title="local engines")
    for col in ("backend", "engine", "version", "address", "emulator", "pid", "state"):
        table.add_column(col)
    for s in rows:
        state = "[green]up[/green]" if s.up else "[red]down[/red]"
        table.add_row(s.name, s.product, s.version or "-", s.address, "yes" if s.emulator else "no",
                      str(s.pid or "-"), state)
    return table


@app.command()
def up(names: EnginesArg = None,
       timeout: Annotated[float | None, typer.Option(help="Seconds to wait for each engine")] = None) -> None:
    """Start local engines without Docker (downloads once into ~/.cache/mmbench)."""
    from bench.engines import EngineError

    failed = []
    for engine in _engines(names):
        with err.status(f"{engine.name}: starting") as spinner:
            try:
                engine.start(progress=lambda msg, e=engine: spinner.update(f"{e.name}: {msg}"), timeout=timeout)
            except EngineError as exc:
                lines = str(exc).splitlines()
                err.print(f"[red]{engine.name}:[/red] {lines[0]}", highlight=False)
                for line in lines[1:]:
                    err.print(f"    {line}", highlight=False, markup=False)
                failed.append(engine.name)
    out.print(_status_table([e.status() for e in _engines(names)]))
    if failed:
        raise MMBenchError(f"could not start: {', '.join(failed)}")


@app.command()
def down(names: EnginesArg = None) -> None:
    """Stop local engines started by `mmbench up`."""
    for engine in reversed(_engines(names)):
        with err.status(f"{engine.name}: stopping"):
            engine.stop()
    out.print(_status_table([e.status() for e in _engines(names)]))


@app.command()
def status() -> None:
    """Show each local engine: version, address, emulator or not, pid, up or down."""
    out.print(_status_table([e.status() for e in _engines(None)]))


# ---------------------------------------------------------------- the benchmark (run, report, compare)

def _csv(text: str | None) -> list[str]:
    return [x.strip() for x in (text or "").split(",") if x.strip()]


def _query_selection(text: str) -> tuple[Q, ...]:
    from models.catalog import READS, WRITES

    groups = {"all": (*READS, *WRITES), "reads": READS, "writes": WRITES, "none": ()}
    picked: list[Q] = []
    for name in _csv(text) or ["none"]:
        picked.extend(groups[name] if name in groups else (get_spec(name).name,))
    return tuple(dict.fromkeys(picked))


@app.command()
def run(
    backends_: Annotated[str | None, typer.Option("--backends", help="Comma-separated backends (default: sqlite and every engine that answers)")] = None,
    queries_: Annotated[str, typer.Option("--queries", help="Comma-separated queries, or all, reads, writes, none")] = "all",
    workloads: Annotated[str, typer.Option("--workloads", help="Mixed workloads A-F (YCSB-style), comma-separated, all or none")] = "none",
    dataset: Annotated[str, typer.Option("--dataset", "-d", help=f"Data sets, comma-separated: {', '.join(DATASETS)}")] = "seed,synthetic",
    scale: ScaleOpt = 1,
    seed: SeedOpt = 42,
    ops: Annotated[int | None, typer.Option("--ops", help="Timed operations per phase", show_default="500")] = None,
    duration: Annotated[float | None, typer.Option("--duration", help="Seconds per phase, instead of --ops")] = None,
    max_time: Annotated[float, typer.Option("--max-time", help="With --ops: a phase stops after this many seconds")] = 0.5,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed operations per phase before timing")] = 20,
    workers: Annotated[int, typer.Option("--workers", help="Processes, each with its own connection")] = 1,
    rate: Annotated[float | None, typer.Option("--rate", help="Open loop: operations per second (all workers)")] = None,
    keys: Annotated[str, typer.Option("--keys", help="Workload key choice: uniform or zipfian")] = "uniform",
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for the results file")] = Path("results"),
    verify: Annotated[bool, typer.Option("--verify", help="Check each query's answer against the reference first")] = False,
    html: Annotated[bool, typer.Option("--html", help="Also write the HTML report next to the results file")] = False,
    batch_size: BatchOpt = 5000,
) -> None:
    """Benchmark: per backend, load each data set, then time every query and workload."""
    from bench.report import html_report, terminal_tables
    from bench.results import load_results
    from bench.runner import RunSettings, Runner, Target, default_targets
    from bench.workloads import KEY_DISTRIBUTIONS, parse_workloads

    if ops is not None and duration is not None:
        raise UsageError("give --ops or --duration, not both")
    for flag, value, least in (("--ops", ops, 1), ("--workers", workers, 1), ("--warmup", warmup, 0),
                               ("--batch-size", batch_size, 1), ("--scale", scale, 1)):
        if value is not None and value < least:
            raise UsageError(f"{flag} must be at least {least}, not {value}")
    for flag, number in (("--duration", duration), ("--rate", rate), ("--max-time", max_time)):
        if number is not None and number <= 0:
            raise UsageError(f"{flag} must be positive, not {number}")
    if keys not in KEY_DISTRIBUTIONS:
        raise UsageError(f"--keys must be one of {', '.join(KEY_DISTRIBUTIONS)}, not {keys!r}")
    datasets = _csv(dataset)
    for name in datasets:
        if name not in DATASETS:
            raise UsageError(f"unknown data set {name!r}; valid: {', '.join(DATASETS)}")
    names = _csv(backends_)
    targets = [Target.registered(registration(n).name) for n in dict.fromkeys(names)] if names else default_targets()
    settings = RunSettings(
        datasets=tuple(datasets), scale=scale, seed=seed, queries=_query_selection(queries_),
        workloads=tuple(w.letter for w in parse_workloads(workloads)), ops=ops or RunSettings.ops, duration_s=duration,
        max_time_s=max_time, warmup=warmup, workers=workers, rate=rate, keys=keys, verify=verify,
        batch_size=batch_size)
    if not settings.phases():
        raise UsageError("nothing to run: --queries none and --workloads none")
    doc = Runner(settings, targets, say=lambda m: err.print(m, highlight=False, markup=False)).run()
    path = doc.write(out_dir)
    for table in terminal_tables([doc.data]):
        out.print(table)
    out.print(f"results: {path}")
    if html:
        out.print(f"report: {html_report([load_results(path)], path.with_suffix('.html'))}")
    if doc.data["status"] == "interrupted":
        raise _RunInterrupted(f"interrupted; what was measured is in {path}")
    if doc.data["status"] == "failures":
        raise MMBenchError(f"some backends or phases failed (see the table); results in {path}")


class _RunInterrupted(MMBenchError):
    exit_code = 130


ResultsArg = Annotated[list[Path], typer.Argument(help="Results files (results/*.json)")]


@app.command()
def report(
    results: ResultsArg,
    html: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML report here")] = None,
) -> None:
    """Print the comparison table of results files; with --html, write the HTML report."""
    from bench.report import html_report, terminal_tables
    from bench.results import load_all

    docs = load_all(results)
    for table in terminal_tables(docs):
        out.print(table)
    if html:
        out.print(f"report: {html_report(docs, html)}")


@app.command()
def compare(
    a: Annotated[Path, typer.Argument(help="Results file A (the baseline)")],
    b: Annotated[Path, typer.Argument(help="Results file B")],
) -> None:
    """Compare two runs: for each backend and query in both, p50 and p99 of B / A."""
    from bench.report import compare_table
    from bench.results import load_results

    table, notes = compare_table(load_results(a), load_results(b))
    out.print(table)
    for note in notes:
        out.print(f"differs: {note}", highlight=False)


def _fail(message: str, code: int) -> NoReturn:
    err.print("[red]mmbench:[/red] " + escape(message), highlight=False, soft_wrap=True)  # data may hold "[/]"
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning every expected failure into one line."""
    try:
        code = app(args=argv, standalone_mode=False)  # a command's typer.Exit(n) comes back as n
        if isinstance(code, int) and code:
            raise SystemExit(code)
    except MMBenchError as exc:
        _fail(str(exc), exc.exit_code)
    except (click.exceptions.Exit, typer.Exit) as exc:
        raise SystemExit(exc.exit_code) from None
    except (click.ClickException, _typer_click.ClickException) as exc:
        message = exc.format_message().replace("\n", " ").strip()
        if not message:  # `mmbench` alone: the help was printed
            raise SystemExit(2) from None
        _fail(message, 2)
    except (click.exceptions.Abort, typer.Abort):
        _fail("interrupted", 130)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as exc:  # a driver or engine error we did not foresee: still one line
        if os.environ.get("MMBENCH_DEBUG"):
            raise
        _fail(f"{type(exc).__name__}: {first_line(exc)} (MMBENCH_DEBUG=1 shows the traceback)", 1)


if __name__ == "__main__":
    main()
