"""The ETL job on DuckDB and on Spark: the rows the predicate keeps, identical output, registered."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import duckdb
import pytest

from etl import jobs
from etl.catalog import Catalog
from etl.crawler import crawl
from etl.storage import S3Url, data_files, open_lines, upload
from models.errors import UsageError

ENGINES = ("duckdb", "spark")

# Quotes, delimiters inside quotes, empty cells, a cell its type cannot read, 1- and 3-digit numbers.
TRICKY = '''ID,Name,Quality,Depth,When
1,"Smith, Ann",30.5,9,2024-01-01
2,"say ""hi""",31,100,2024-02-01
3,,35,60,
4,plain,33,55,2024-03-01
5,"multi
line",40,6,2024-04-01
6,x,29.9,51,2024-05-01
'''


def text(location: str) -> str:
    return "".join(open_lines(location))


def ids(csv_text: str) -> list[str]:
    return [row["ID"] for row in csv.DictReader(io.StringIO(csv_text))]


@pytest.fixture
def seed_table(bucket: str, glue_db: str, seed_csv: Path) -> str:
    upload(seed_csv, S3Url(bucket, "raw/"))
    crawl(f"s3://{bucket}/raw/", glue_db, "genomics")
    return f"{glue_db}.genomics"


def test_lecture_filter_on_both_engines(seed_table: str, bucket: str) -> None:
    """The issue's check: Quality > 30 keeps IDs 3, 4, 7, 9 on DuckDB and on Spark, byte for byte."""
    outputs = {}
    for engine in ENGINES:
        dest = f"s3://{bucket}/filtered-{engine}/"
        result = jobs.run(seed_table, "Quality > 30", dest, engine=engine)
        assert result.rows_out == 4 and result.files == [f"{dest}part-00000.csv"]
        outputs[engine] = text(result.files[0])
        out = Catalog().table(f"{seed_table.split('.')[0]}.filtered_{engine}")
        assert out.location == dest and out.classification == "csv" and out.parameters["recordCount"] == "4"
        assert [c.type for c in out.columns] == [c.type for c in result.source.columns]
    assert ids(outputs["duckdb"]) == ["3", "4", "7", "9"]
    assert outputs["duckdb"] == outputs["spark"]
    assert outputs["duckdb"].splitlines()[0] == "ID,Chromosome,Position,Reference_Allele,Alternate_Allele,Genotype,Quality,Depth"
    assert outputs["duckdb"].splitlines()[1] == "3,2,500003,G,A,GG,35,60"  # rows as they were read


TRICKY_CASES = [
    ("Depth > 50", ["2", "3", "4", "6"]),            # 100 > 50 and 9 < 50: numbers, not text
    ("Quality > 30", ["1", "2", "3", "5"]),          # n/a (written after the crawl) is no number: never matches
    ("Name IS NULL OR Name LIKE 'say%'", ["2", "3"]),
    ('"When" >= \'2024-02-01\' AND Depth BETWEEN 1 AND 60', ["4", "5", "6"]),  # WHEN is a keyword: quoted
    ("Depth > 1000", []),
]


def test_engines_agree_on_tricky_csv(tmp_path: Path, glue_db: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.csv").write_text(TRICKY)
    crawl(str(src), glue_db, "tricky")
    (src / "data.csv").write_text(TRICKY.replace("plain,33,", "plain,n/a,"))  # the data changed since the crawl
    source_rows = {r["ID"]: r for r in csv.DictReader(io.StringIO(TRICKY.replace("plain,33,", "plain,n/a,")))}
    for n, (where, expected) in enumerate(TRICKY_CASES):
        outputs = {}
        for engine in ENGINES:
            dest = tmp_path / f"{engine}-{n}"
            result = jobs.run(f"{glue_db}.tricky", where, str(dest), engine=engine, output_table=f"t{n}_{engine}")
            outputs[engine] = (dest / "part-00000.csv").read_text()
            assert result.rows_out == len(expected), (where, engine)
        assert ids(outputs["duckdb"]) == expected, where
        assert outputs["duckdb"] == outputs["spark"], where
        # kept rows are written as read: quotes and the multi-line cell survive
        assert list(csv.DictReader(io.StringIO(outputs["spark"]))) == [source_rows[i] for i in expected]


def test_parquet_output_is_typed_and_equal(seed_table: str, bucket: str, tmp_path: Path) -> None:
    rows = {}
    for engine in ENGINES:
        dest = tmp_path / f"pq-{engine}"
        jobs.run(seed_table, "Depth >= 55 OR Chromosome = 1", str(dest), fmt="parquet", engine=engine)
        rel = duckdb.connect().read_parquet(str(dest / "part-00000.parquet"))
        assert [str(t) for t in rel.types] == ["BIGINT", "BIGINT", "BIGINT", "VARCHAR", "VARCHAR", "VARCHAR", "BIGINT", "BIGINT"]
        rows[engine] = rel.fetchall()
    assert rows["duckdb"] == rows["spark"]
    assert [r[0] for r in rows["duckdb"]] == [1, 2, 3, 4, 9]
    # the parquet table is a catalog table too: a job can read it
    again = jobs.run(f"{seed_table.split('.')[0]}.pq_duckdb", "Depth > 55", str(tmp_path / "again"))
    assert ids((tmp_path / "again" / "part-00000.csv").read_text()) == ["3", "9"] and again.rows_out == 2


def test_refusals_touch_nothing(seed_table: str, bucket: str, tmp_path: Path) -> None:
    dest = f"s3://{bucket}/out/"
    jobs.run(seed_table, "Quality > 30", dest)
    before = text(f"{dest}part-00000.csv")
    with pytest.raises(UsageError, match="already holds"):
        jobs.run(seed_table, "Quality > 20", dest)
    with pytest.raises(UsageError, match="overlaps"):
        jobs.run(seed_table, "Quality > 20", f"s3://{bucket}/raw/sub/", overwrite=True)
    with pytest.raises(UsageError, match="is bigint but"):
        jobs.run(seed_table, "Chromosome = 'X'", dest, overwrite=True)
    with pytest.raises(UsageError, match="--engine"):
        jobs.run(seed_table, "Quality > 20", dest, engine="hive", overwrite=True)
    assert text(f"{dest}part-00000.csv") == before
    jobs.run(seed_table, "Quality > 34", dest, overwrite=True)
    assert ids(text(f"{dest}part-00000.csv")) == ["3"] and data_files(dest) == [f"{dest}part-00000.csv"]


def test_cli_run_json(seed_table: str, bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from bench.cli import main

    main(["etl", "run", "--table", seed_table, "--where", "Quality > 30", "--out", f"s3://{bucket}/cli/",
          "--format", "csv", "--engine", "duckdb", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["rows_out"] == 4 and result["files"] == [f"s3://{bucket}/cli/part-00000.csv"]
