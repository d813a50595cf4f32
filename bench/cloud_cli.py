"""The cloud hands-on commands: `s3`, `etl`, `import-table`, `scan-table`, `serve`.

    mmbench s3 cp SRC DEST                 a file to or from s3://bucket/key (creates the bucket)
    mmbench s3 ls [s3://bucket/prefix]     buckets, or the objects under a prefix
    mmbench etl crawl SOURCE --database D [--table T]
    mmbench etl tables [--database D] [--json]
    mmbench etl run --table D.T --where "Quality > 30" --out DEST [--format csv|parquet]
                    [--engine duckdb|spark] [--spark-master URL] [--output-table T] [--overwrite]
    mmbench import-table s3://bucket/genomics.csv --table genomics [--typed] [--replace]
    mmbench scan-table genomics --where "Depth > 50" [--json]
    mmbench serve --backend B [--host 127.0.0.1] [--port 8080]

`bench.cli` registers them with `register(app)`. The work is done in `etl` and `api`; this
module only parses options and prints.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

s3_app = typer.Typer(no_args_is_help=True, help="Copy and list objects in S3 (the local moto server, or AWS).")
etl_app = typer.Typer(no_args_is_help=True, help="Glue-style crawler, Data Catalog and filter jobs (DuckDB or Spark).")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# ---------------------------------------------------------------- s3

@s3_app.command("cp")
def s3_cp(src: Annotated[str, typer.Argument(help="A local file or s3://bucket/key")],
          dest: Annotated[str, typer.Argument(help="s3://bucket/key (or a prefix ending in /), or a local path")]) -> None:
    """Copy a file to or from S3 (the bucket is created if needed)."""
    from etl.storage import copy

    out.print(f"copied {src} -> {copy(src, dest)}", highlight=False)


@s3_app.command("ls")
def s3_ls(location: Annotated[str | None, typer.Argument(help="s3://bucket/ or s3://bucket/prefix (none: the buckets)")] = None,
          as_json: JsonOpt = False) -> None:
    """List the buckets, or the objects under s3://bucket/prefix."""
    from etl.storage import S3Url, list_buckets, list_objects

    if location is None:
        buckets = list_buckets()
        if as_json:
            _print_json(buckets)
        else:
            for b in buckets:
                out.print(f"s3://{b}/", highlight=False)
        return
    objects = list(list_objects(S3Url.parse(location)))
    if as_json:
        _print_json([{"url": str(o.url), "size": o.size, "modified": o.modified} for o in objects])
        return
    for o in objects:
        out.print(f"{o.modified}  {o.size:>12,}  {o.url}", highlight=False)
    if not objects:
        err.print(f"no objects under {location}", highlight=False)


# ---------------------------------------------------------------- etl

@etl_app.command("crawl")
def etl_crawl(
    source: Annotated[str, typer.Argument(help="A CSV file, a directory, or s3://bucket/prefix")],
    database: Annotated[str, typer.Option("--database", help="Data Catalog database (created if needed)")] = "genomics_db",
    table: Annotated[str | None, typer.Option("--table", help="Table name (default: after the file, folder or bucket)")] = None,
    header: Annotated[str, typer.Option("--header", help="auto (Glue's rule), present or absent")] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Classify the CSV files at SOURCE, infer column types as Glue does, register the table."""
    from etl.crawler import crawl

    result = crawl(source, database, table, header=header)
    if as_json:
        _print_json({**result.table.describe(), "files": result.files, "created": result.created})
        return
    _print_tables([result.table], title=f"{'created' if result.created else 'updated'} {result.table.qualified} "
                                        f"({result.records:,} records in {len(result.files)} file(s))")


def _print_tables(tables: list[Any], title: str) -> None:
    t = Table(title=title)
    for col in ("table", "location", "format", "columns"):
        t.add_column(col)
    for tab in tables:
        t.add_row(tab.qualified, tab.location, tab.classification, ", ".join(f"{c.name} {c.type}" for c in tab.columns))
    out.print(t)


@etl_app.command("tables")
def etl_tables(
    database: Annotated[str | None, typer.Option("--database", help="Only this database")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the Data Catalog's tables with their columns and types."""
    from etl.catalog import Catalog

    tables = Catalog().tables(database)
    if as_json:
        _print_json([t.describe() for t in tables])
        return
    _print_tables(tables, title=f"Data Catalog ({len(tables)} tables)")


@etl_app.command("run")
def etl_run(
    table: Annotated[str, typer.Option("--table", help="DATABASE.TABLE of the Data Catalog")],
    where: Annotated[str, typer.Option("--where", help="Rows to keep, e.g. \"Quality > 30\"")],
    dest: Annotated[str, typer.Option("--out", help="Output directory or s3://bucket/prefix/")],
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    engine: Annotated[str, typer.Option("--engine", help="duckdb (embedded) or spark")] = "duckdb",
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master URL (default local[*])")] = None,
    output_table: Annotated[str | None, typer.Option("--output-table", help="Catalog name of the output (default: after --out)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the files already at --out")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Read a catalog table, keep the rows WHERE accepts, write them to --out, register the output."""
    from etl.jobs import run

    with err.status(f"{engine}: running"):
        result = run(table, where, dest, fmt=fmt, engine=engine, spark_master=spark_master,
                     output_table=output_table, overwrite=overwrite)
    if as_json:
        _print_json(result.describe())
        return
    read = f" of {result.rows_in:,}" if result.rows_in is not None else ""
    out.print(f"{result.engine}: kept {result.rows_out:,}{read} rows of {result.source.qualified} where "
              f"{result.where}; wrote {', '.join(result.files)}; registered {result.output.qualified}", highlight=False)


# ---------------------------------------------------------------- DynamoDB import and scan

def import_table(
    source: Annotated[str, typer.Argument(help="s3://bucket/genomics.csv (or a prefix, or a local file)")],
    table: Annotated[str, typer.Option("--table", help="The DynamoDB table to create")] = "genomics",
    key: Annotated[str | None, typer.Option("--key", help="Partition key column (default: the first, ID)")] = None,
    typed: Annotated[bool, typer.Option("--typed", help="Numbers as numbers (N); AWS's CSV import makes every value a string")] = False,
    method: Annotated[str, typer.Option("--method", help="auto (ImportTable on AWS, writes locally), import or put")] = "auto",
    replace: Annotated[bool, typer.Option("--replace", help="Drop the table first if it exists")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a CSV from S3 into a new DynamoDB table, as the console's "Import from S3" does."""
    from etl.dynamo_import import import_table as run_import

    result = run_import(source, table, key=key, typed=typed, method=method, replace=replace)
    if as_json:
        _print_json(result.describe())
        return
    kind = "numbers as numbers" if result.typed else "every value a string, as AWS imports CSV"
    how = "ImportTable" if result.method == "import" else "CreateTable + BatchWriteItem"
    out.print(f"imported {result.items:,} items into {result.table} at {result.engine} ({how}; key {result.key}; {kind})",
              highlight=False)


def scan_table(
    table: Annotated[str, typer.Argument(help="The DynamoDB table (as given to import-table)")],
    where: Annotated[str | None, typer.Option("--where", help="Filter, e.g. \"Depth > 50\" (a number) or \"Depth > '50'\" (a string)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Scan a DynamoDB table with a filter, every page (the lecture's console Scan)."""
    from etl.dynamo_import import scan_table as run_scan

    result = run_scan(table, where)
    if as_json:
        _print_json(result.describe())
        return
    title = (f"Scan {result.table}" + (f" where {result.where}" if result.where else "")
             + f": {len(result.items)} of {result.scanned} items read ({result.pages} page(s))")
    if not result.items:
        out.print(title + ("; no item matched. DynamoDB never compares a number with a string: on a table "
                           "imported as strings (import-table without --typed) compare as text (Depth > '50', "
                           "in text order) or import it with --typed." if result.where and result.scanned else ""),
                  highlight=False, markup=False)
        return
    t = Table(title=title)
    columns = list(dict.fromkeys(k for item in result.items for k in item))
    for col in columns:
        t.add_column(f"{col} ({result.types.get(col, '?')})")
    for item in result.items:
        t.add_row(*(json.dumps(item[c]) if c in item else "" for c in columns))
    out.print(t)


# ---------------------------------------------------------------- the REST API

def serve(
    backend: Annotated[str, typer.Option("--backend", "-b", help="The backend to serve")],
    host: Annotated[str, typer.Option("--host", help="Address to bind (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port")] = 8080,
    pool: Annotated[int, typer.Option("--pool", help="Backend instances (connections) at most")] = 4,
    access_log: Annotated[bool, typer.Option("--access-log", help="Log every request")] = False,
) -> None:
    """Serve the genomics REST API over BACKEND (GET /genomics, /genomics/{id}, /queries/{name}, /docs)."""
    from api.server import check_bind
    from api.server import serve as run_server
    from backends import open_backend, registration
    from backends.base import BackendError, NotLoaded

    name = registration(backend).name
    check_bind(host, port)
    if pool < 1:
        raise typer.BadParameter("--pool must be at least 1")
    try:
        with open_backend(name) as b:
            held = b.holdings()
            err.print(f"{name} holds {held.describe() if held else 'data without a holdings record'}", highlight=False)
    except NotLoaded as exc:
        err.print(f"[yellow]warning:[/yellow] {exc}; the API answers 503 until then", highlight=False)
    except BackendError as exc:
        err.print(f"[yellow]warning:[/yellow] {exc}; the API answers 503 until it is up", highlight=False)
    shown = f"[{host}]" if ":" in host else host
    err.print(f"serving {name} on http://{shown}:{port} (OpenAPI: /openapi.json, /docs); Ctrl-C stops", highlight=False)
    run_server(name, host, port, pool_size=pool, access_log=access_log)


def register(app: typer.Typer) -> None:
    """Add the cloud commands to the `mmbench` app."""
    app.add_typer(s3_app, name="s3")
    app.add_typer(etl_app, name="etl")
    app.command("import-table")(import_table)
    app.command("scan-table")(scan_table)
    app.command("serve")(serve)
