"""The Glue-style crawler: delimiter, header and type inference, and the Data Catalog entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli import main
from etl.catalog import Catalog
from etl.crawler import crawl, infer, merge, value_type
from etl.storage import S3Url, upload
from models.errors import DataError, UsageError


@pytest.mark.parametrize("cell, kind", [
    ("30", "bigint"), ("-7", "bigint"), (" 42 ", "bigint"), ("30.5", "double"), ("1e3", "double"), (".5", "double"),
    ("99999999999999999999", "double"), ("true", "boolean"), ("FALSE", "boolean"), ("2024-02-29", "date"),
    ("2023-02-29", "string"), ("X", "string"), ("nan", "string"), ("inf", "string"), ("", None), ("  ", None),
])
def test_value_types(cell: str, kind: str | None) -> None:
    assert value_type(cell) == kind


def test_type_merge() -> None:
    assert merge("bigint", "double") == "double"
    assert merge(None, "bigint") == "bigint"
    assert merge("bigint", None) == "bigint"
    assert merge("date", "bigint") == "string"
    assert merge("boolean", "boolean") == "boolean"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_seed_csv_as_glue_sees_it(seed_csv: Path) -> None:
    delimiter, columns, files, records, header = infer(str(seed_csv))
    assert (delimiter, records, header, files) == (",", 10, True, [str(seed_csv)])
    assert [(c.name, c.type) for c in columns] == [
        ("id", "bigint"), ("chromosome", "bigint"), ("position", "bigint"), ("reference_allele", "string"),
        ("alternate_allele", "string"), ("genotype", "string"), ("quality", "bigint"), ("depth", "bigint")]
    assert columns[3].header == "Reference_Allele"


def test_delimiters_quotes_and_types(tmp_path: Path) -> None:
    f = write(tmp_path / "a.tsv", 'Name\tScore\tWhen\tOk\n"a\tb"\t1.5\t2024-01-01\ttrue\nc\t2\t\tfalse\n')
    delimiter, columns, _, records, header = infer(str(f))
    assert delimiter == "\t" and header and records == 2
    assert [(c.name, c.type) for c in columns] == [("name", "string"), ("score", "double"), ("when", "date"),
                                                   ("ok", "boolean")]
    g = write(tmp_path / "b.csv", "a;b\n1;2\n3;4\n")
    assert infer(str(g))[0] == ";"


def test_all_text_file_has_no_header_by_glues_rule(tmp_path: Path) -> None:
    f = write(tmp_path / "t.csv", "name,city\nann,lleida\nbob,reus\n")
    _, columns, _, records, header = infer(str(f))
    assert not header and records == 3 and [c.name for c in columns] == ["col0", "col1"]
    _, columns, _, records, header = infer(str(f), header="present")
    assert header and records == 2 and [c.name for c in columns] == ["name", "city"]


def test_files_under_a_folder_merge_types(tmp_path: Path) -> None:
    write(tmp_path / "1.csv", "ID,Q\n1,30\n")
    write(tmp_path / "2.csv", "id,q\n2,30.5\n")
    write(tmp_path / "_SUCCESS", "")
    write(tmp_path / ".hidden.csv", "x\n")
    _, columns, files, records, _ = infer(str(tmp_path))
    assert [Path(f).name for f in files] == ["1.csv", "2.csv"] and records == 2
    assert [(c.name, c.type) for c in columns] == [("id", "bigint"), ("q", "double")]


@pytest.mark.parametrize("a, b, says", [
    ("ID,Q\n1,2\n", "ID,R\n1,2\n", "differ"),
    ("ID,Q\n" + "1,2\n" * 25 + "3\n", None, "1.csv:27: expected 2 columns"),
    ("just one column\nx\n", None, "not a CSV"),
    ('ID,Q\n1,"2\n', None, "malformed CSV"),
])
def test_bad_files_refused(tmp_path: Path, a: str, b: str | None, says: str) -> None:
    write(tmp_path / "1.csv", a)
    if b:
        write(tmp_path / "2.csv", b)
    with pytest.raises((UsageError, DataError), match=says):
        infer(str(tmp_path))


def test_crawl_registers_the_table_in_glue(bucket: str, glue_db: str, seed_csv: Path) -> None:
    upload(seed_csv, S3Url(bucket, "raw/"))
    result = crawl(f"s3://{bucket}/raw/", glue_db, "genomics")
    assert result.created and result.records == 10
    table = Catalog().table(f"{glue_db}.genomics")
    assert table.location == f"s3://{bucket}/raw/" and table.classification == "csv"
    assert table.column("Quality").type == "bigint" and table.column("quality").header == "Quality"
    raw = Catalog().glue.get_table(DatabaseName=table.database, Name="genomics")["Table"]
    sd = raw["StorageDescriptor"]
    assert sd["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    assert raw["Parameters"]["classification"] == "csv" and raw["Parameters"]["skip.header.line.count"] == "1"
    assert not crawl(f"s3://{bucket}/raw/", glue_db, "genomics").created  # a second crawl updates


def test_cli_crawl_and_tables_json(bucket: str, glue_db: str, seed_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's check: `etl tables --json` shows the 8 columns, Position and Depth integers, Quality a number."""
    main(["s3", "cp", str(seed_csv), f"s3://{bucket}/"])
    main(["etl", "crawl", f"s3://{bucket}/", "--database", glue_db])
    capsys.readouterr()
    main(["etl", "tables", "--json", "--database", glue_db])
    tables = json.loads(capsys.readouterr().out)
    assert len(tables) == 1 and tables[0]["table"] == bucket.replace("-", "_")
    types = {c["name"]: c["type"] for c in tables[0]["columns"]}
    assert len(types) == 8
    assert types["position"] == "bigint" and types["depth"] == "bigint" and types["quality"] in ("bigint", "double")


def test_unknown_table_is_one_line(glue_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as code:
        main(["etl", "run", "--table", f"{glue_db}.nope", "--where", "a > 1", "--out", "/tmp/x"])
    assert code.value.code == 2
    message = capsys.readouterr().err.strip()
    assert "no table 'nope'" in message and len(message.splitlines()) == 1
