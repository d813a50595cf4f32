"""The ETL job: read a catalog table, keep the rows a predicate accepts, write them, register them.

One job, two engines, identical output:
- **duckdb** (default): embedded, in this process.
- **spark**: Apache Spark through pyspark, `local[*]` by default (a JVM on this machine);
  `spark_master="spark://host:7077"` (or `yarn`, `k8s://...`) runs the same job on a cluster,
  the path for data that outgrows one machine.

How the job runs, whatever the engine:
1. The table's definition comes from the Data Catalog: location, format, delimiter, header and
   column types. The predicate is checked against those columns before anything is read.
2. With a local engine, S3 objects are staged in a temporary directory first (so neither
   engine needs S3 credentials or Hadoop's S3 connector); on a cluster, Spark reads and writes
   `s3a://` itself (the cluster must have hadoop-aws; the endpoint comes from MMBENCH_S3_URL).
3. CSV cells are read as text and `TRY_CAST` to the catalog's types inside the predicate only:
   a kept row is written exactly as it was read (no `30` turned into `30.0`), so both engines
   write byte-identical CSV, and a cell its type cannot read never matches. Parquet output is
   typed with the catalog's types.
4. Rows keep the source's order (file by file, line by line), written as one file
   `part-00000.csv` / `part-00000.parquet` under DEST.
5. DEST must be empty, or `overwrite=True` replaces the data files there. The output is
   written to a staging directory first and published only after the engine succeeded, so a
   failed job leaves DEST as it was.
6. The output is registered as a table of the source's database (named after DEST, or
   `output_table`), with the same columns and its own location and format.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etl import predicate as predicates
from etl import storage
from etl.aws import CloudError, errors
from etl.catalog import Catalog, Column, Table, glue_name
from models.errors import MMBenchError, UsageError, first_line

ENGINES = ("duckdb", "spark")
FORMATS = ("csv", "parquet")
PART = "part-00000"


class JobError(MMBenchError):
    """The engine failed to run the job (one line)."""


@dataclass
class JobResult:
    engine: str
    source: Table
    output: Table
    rows_in: int | None
    rows_out: int
    files: list[str]
    where: str

    def describe(self) -> dict[str, Any]:
        return {"engine": self.engine, "source": self.source.qualified, "where": self.where,
                "rows_out": self.rows_out, "output_table": self.output.qualified,
                "location": self.output.location, "format": self.output.classification, "files": self.files}


@dataclass
class _Input:
    files: list[str]        # local paths (or s3a:// URLs on a cluster), in order
    table: Table

    @property
    def typed(self) -> bool:
        return self.table.classification == "parquet"


def run(table: str, where: str, dest: str, *, fmt: str = "csv", engine: str = "duckdb",
        spark_master: str | None = None, output_table: str | None = None, overwrite: bool = False,
        catalog: Catalog | None = None) -> JobResult:
    """Run the job (see the module docstring); UsageError for anything wrong with the request."""
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine!r}: use {' or '.join(ENGINES)}")
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: use {' or '.join(FORMATS)}")
    if spark_master and engine != "spark":
        raise UsageError("--spark-master is for --engine spark")
    catalog = catalog or Catalog()
    source = catalog.table(table)
    pred = predicates.parse(where, {c.name: (c.header or c.name, c.type) for c in source.columns})
    dest = _normal_dest(dest)
    _check_dest(source, dest, overwrite)
    out_name = glue_name(output_table) if output_table else _default_output_name(dest)
    if out_name == source.name:
        raise UsageError(f"the output table would replace the source table {source.qualified}; "
                         "give another --output-table")
    cluster = engine == "spark" and spark_master is not None and not spark_master.startswith("local")
    files = storage.data_files(source.location)
    with tempfile.TemporaryDirectory(prefix="mmbench-etl-") as tmp:
        work = Path(tmp)
        staged = work / "out"
        staged.mkdir()
        if cluster:
            inputs = _Input([_s3a(f) for f in files], source)
            rows_out = _spark(inputs, pred, staged, fmt, spark_master, direct_dest=dest)
            written = [dest]
        else:
            inputs = _Input(list(_stage(files, work / "in")), source)
            if engine == "duckdb":
                rows_out = _duckdb(inputs, pred, staged / f"{PART}.{fmt}", fmt)
            else:
                rows_out = _spark(inputs, pred, staged, fmt, spark_master or "local[*]")
            if overwrite:
                _clear(dest)
            written = storage.put_tree(staged, dest)
    columns = [Column(c.name, c.type, c.header) for c in source.columns]
    out = Table(database=source.database, name=out_name, columns=columns, location=dest, classification=fmt,
                delimiter=source.delimiter, header=True,
                parameters={"recordCount": str(rows_out), "mmbench.job": f"{source.qualified} where {where}",
                            **{k: v for k, v in source.parameters.items() if k == "mmbench.multiline"}})
    catalog.put_table(out)
    rows_in = int(source.parameters["recordCount"]) if "recordCount" in source.parameters else None
    return JobResult(engine, source, out, rows_in, rows_out, written, where)


# ---------------------------------------------------------------- locations

def _normal_dest(dest: str) -> str:
    if storage.is_s3(dest):
        url = storage.S3Url.parse(dest)
        key = url.key if not url.key or url.key.endswith("/") else url.key + "/"
        return str(storage.S3Url(url.bucket, key))
    path = Path(dest)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {dest}: is a file; give a directory (the job writes {PART}.csv / .parquet in it)")
    return str(path.resolve())


def _inside(a: str, b: str) -> bool:
    """Whether location `a` is `b` or under it (S3 prefixes or local paths)."""
    if storage.is_s3(a) != storage.is_s3(b):
        return False
    if storage.is_s3(a):
        ua, ub = storage.S3Url.parse(a), storage.S3Url.parse(b)
        kb = ub.key if not ub.key or ub.key.endswith("/") else ub.key + "/"
        return ua.bucket == ub.bucket and (ua.key.startswith(kb) or ua.key == ub.key or not ub.key)
    pa, pb = Path(a).resolve(), Path(b).resolve()
    return pa == pb or pb in pa.parents


def _check_dest(source: Table, dest: str, overwrite: bool) -> None:
    if _inside(source.location, dest) or _inside(dest, source.location):
        raise UsageError(f"--out {dest} overlaps the source's location {source.location}: write elsewhere")
    existing = _existing(dest)
    if existing and not overwrite:
        raise UsageError(f"--out {dest} already holds {len(existing)} file(s) (e.g. {existing[0]}); "
                         "use --overwrite to replace them, or another --out")


def _existing(dest: str) -> list[str]:
    if storage.is_s3(dest):
        try:
            return [str(o.url) for o in storage.list_objects(storage.S3Url.parse(dest))]
        except CloudError:  # no bucket yet: nothing there
            return []
    path = Path(dest)
    return sorted(str(p) for p in path.rglob("*") if p.is_file()) if path.is_dir() else []


def _clear(dest: str) -> None:
    """Remove the data files at `dest` (--overwrite), after the new output is ready."""
    if storage.is_s3(dest):
        keys = [storage.S3Url.parse(u).key for u in _existing(dest)]
        if not keys:
            return
        s3, ep = storage.s3_client()
        bucket = storage.S3Url.parse(dest).bucket
        with errors("s3", ep, dest):
            for i in range(0, len(keys), 1000):
                s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]]})
        return
    for p in sorted(Path(dest).rglob("*"), reverse=True):
        if p.is_file() or p.is_symlink():
            p.unlink()
        elif p.is_dir():
            p.rmdir()


def _default_output_name(dest: str) -> str:
    if storage.is_s3(dest):
        url = storage.S3Url.parse(dest)
        return glue_name(url.key.rstrip("/").rpartition("/")[2] or url.bucket)
    return glue_name(Path(dest).name)


def _stage(files: list[str], into: Path) -> Iterator[str]:
    """Local paths of `files` in order: S3 objects downloaded (names numbered to keep the order)."""
    into.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(files):
        if storage.is_s3(f):
            url = storage.S3Url.parse(f)
            yield str(storage.download(url, into / f"{i:05d}-{url.name}"))
        else:
            yield f


def _s3a(location: str) -> str:
    if storage.is_s3(location):
        url = storage.S3Url.parse(location)
        return f"s3a://{url.bucket}/{url.key}"
    return Path(location).resolve().as_uri()


# ---------------------------------------------------------------- DuckDB

_DUCK_TYPES = {"bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE", "string": "VARCHAR"}


def _duckdb(inputs: _Input, pred: predicates.Predicate, out: Path, fmt: str) -> int:
    import duckdb

    t = inputs.table
    con = duckdb.connect(config={"threads": max(1, min(4, os.cpu_count() or 1)), "preserve_insertion_order": True})
    try:
        if inputs.typed:
            rel = con.read_parquet(inputs.files)
        else:
            rel = con.read_csv(inputs.files, header=t.header, all_varchar=True, sep=t.delimiter, quotechar='"',
                               escapechar='"', **({} if t.header else {"names": [c.header or c.name for c in t.columns]}))
        rel = rel.filter(predicates.to_duckdb(pred, typed_source=inputs.typed))
        names = [c.header or c.name for c in t.columns]
        if fmt == "parquet":
            rel = rel.select(*[duckdb.ColumnExpression(n).cast(_DUCK_TYPES[c.type]).alias(n)
                               for n, c in zip(names, t.columns, strict=True)])
            rel.write_parquet(str(out))
        else:
            if inputs.typed:  # typed source to text: the engine's own rendering of each value
                rel = rel.select(*[duckdb.ColumnExpression(n).cast("VARCHAR").alias(n) for n in names])
            rel.write_csv(str(out), header=True, sep=t.delimiter, quotechar='"', escapechar='"')
        return _count(con, out, fmt, t.delimiter)
    except duckdb.Error as exc:
        raise JobError(f"duckdb: {first_line(exc)}") from None
    finally:
        con.close()


def _count(con: Any, out: Path, fmt: str, delimiter: str) -> int:
    """Rows in the written file, read back (what was written, not what was meant to be)."""
    if fmt == "parquet":
        return int(con.read_parquet(str(out)).aggregate("count(*)").fetchall()[0][0])
    return int(con.read_csv(str(out), header=True, all_varchar=True, sep=delimiter, quotechar='"',
                            escapechar='"').aggregate("count(*)").fetchall()[0][0])


# ---------------------------------------------------------------- Spark

_SPARK_TYPES = {"bigint": "bigint", "double": "double", "boolean": "boolean", "date": "date", "string": "string"}


_SESSIONS: dict[str, Any] = {}


@contextlib.contextmanager
def spark_session(master: str) -> Iterator[Any]:
    """A Spark session on `master`: no UI, quiet logs, few shuffle partitions. Kept for the next
    job of this process (starting a SparkContext costs seconds) and stopped when it exits."""
    spark = _SESSIONS.get(master)
    if spark is None:
        spark = _SESSIONS[master] = _start_spark(master)
    yield spark


def _start_spark(master: str) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError("--engine spark needs pyspark: pip install -e '.[spark]' (and Java 17 or 21)") from None
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        raise UsageError("--engine spark needs Java (17 or 21): apt-get install -y openjdk-17-jre-headless, "
                         "or set JAVA_HOME")
    if _SESSIONS:  # one SparkContext per process: another master's session must go first
        for other in list(_SESSIONS):
            _SESSIONS.pop(other).stop()
    builder = (SparkSession.builder.master(master).appName("mmbench-etl")
               .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_log4j_config()}")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1"))
    if not master.startswith("local"):
        builder = _s3a_config(builder)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - the JVM failed to start (no Java, bad master URL)
        raise JobError(f"spark: could not start a session on {master}: {first_line(exc)}") from None
    spark.sparkContext.setLogLevel("ERROR")
    atexit.register(_stop_sessions)
    return spark


def _stop_sessions() -> None:
    for master in list(_SESSIONS):
        with contextlib.suppress(Exception):
            _SESSIONS.pop(master).stop()


_LOG4J = """status = error
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = spark: %p %c{1}: %m%n
"""


def _log4j_config() -> str:
    """A log4j2 file that keeps Spark's JVM quiet but for errors (its default prints banners)."""
    path = Path(tempfile.gettempdir()) / "mmbench-spark-log4j2.properties"
    if not path.exists() or path.read_text() != _LOG4J:
        path.write_text(_LOG4J)
    return str(path)


def _s3a_config(builder: Any) -> Any:
    from etl.aws import LOCAL_CREDENTIALS, endpoint

    ep = endpoint("s3")
    if ep.url:
        builder = (builder.config("spark.hadoop.fs.s3a.endpoint", ep.url)
                   .config("spark.hadoop.fs.s3a.path.style.access", "true")
                   .config("spark.hadoop.fs.s3a.connection.ssl.enabled", str(ep.url.startswith("https")).lower()))
    if ep.local:
        builder = (builder.config("spark.hadoop.fs.s3a.access.key", LOCAL_CREDENTIALS["aws_access_key_id"])
                   .config("spark.hadoop.fs.s3a.secret.key", LOCAL_CREDENTIALS["aws_secret_access_key"]))
    return builder


def _spark(inputs: _Input, pred: predicates.Predicate, staged: Path, fmt: str, master: str,
           direct_dest: str | None = None) -> int:
    """Run the job on Spark; output as one file `part-00000.<fmt>` in `staged` (or Spark's own
    part files straight at `direct_dest` on a cluster)."""
    t = inputs.table
    with spark_session(master) as spark:
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        try:
            names = [c.header or c.name for c in t.columns]
            if inputs.typed:
                df = spark.read.parquet(*inputs.files)
            else:
                schema = StructType([StructField(n, StringType(), True) for n in names])
                df = spark.read.csv(inputs.files, schema=schema, header=t.header, sep=t.delimiter, quote='"',
                                    escape='"', mode="FAILFAST", enforceSchema=True,
                                    multiLine=t.parameters.get("mmbench.multiline") == "true")
            # keep the source order: file by file, line by line
            df = df.withColumn("__file", F.input_file_name()).withColumn("__row", F.monotonically_increasing_id())
            df = df.filter(predicates.to_spark(pred, typed_source=inputs.typed))
            df = df.orderBy("__file", "__row").drop("__file", "__row")
            if fmt == "parquet":
                df = df.select(*[F.col(f"`{n}`").cast(_SPARK_TYPES[c.type]).alias(n)
                                 for n, c in zip(names, t.columns, strict=True)])
            elif inputs.typed:
                df = df.select(*[F.col(f"`{n}`").cast("string").alias(n) for n in names])
            df = df.cache()
            rows = df.count()
            target = _s3a(direct_dest) if direct_dest else str(staged / "spark")
            writer = df.coalesce(1).write.mode("overwrite" if direct_dest is None else "errorifexists")
            if fmt == "parquet":
                writer.parquet(target)
            else:
                writer.csv(target, header=True, sep=t.delimiter, quote='"', escape='"', emptyValue='""')
        except PySparkException as exc:
            raise JobError(f"spark: {first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - py4j errors from the JVM
            raise JobError(f"spark: {first_line(exc)}") from None
    if direct_dest is None:
        parts = sorted((staged / "spark").glob(f"part-*.{'csv' if fmt == 'csv' else 'parquet'}"))
        if len(parts) > 1:
            raise JobError(f"spark wrote {len(parts)} part files where one was expected")
        final = staged / f"{PART}.{fmt}"
        if parts:
            parts[0].replace(final)
        else:  # no rows at all: Spark may write no part file; write the header alone
            _empty_output(final, fmt, t)
        shutil.rmtree(staged / "spark")
    return rows


def _empty_output(path: Path, fmt: str, t: Table) -> None:
    import duckdb

    names = [c.header or c.name for c in t.columns]
    con = duckdb.connect()
    try:
        rel = con.sql("SELECT 1 AS x WHERE false")
        cols = [duckdb.ConstantExpression(None).cast(_DUCK_TYPES[c.type] if fmt == "parquet" else "VARCHAR").alias(n)
                for n, c in zip(names, t.columns, strict=True)]
        rel = rel.select(*cols)
        if fmt == "parquet":
            rel.write_parquet(str(path))
        else:
            rel.write_csv(str(path), header=True, sep=t.delimiter)
    finally:
        con.close()
