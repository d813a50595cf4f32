"""The --where predicate: only typed boolean expressions over known columns, compiled, never spliced."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest

from etl.predicate import parse, to_duckdb, to_dynamodb
from models.errors import UsageError

COLUMNS = {"id": ("ID", "bigint"), "chromosome": ("Chromosome", "bigint"), "quality": ("Quality", "double"),
           "depth": ("Depth", "bigint"), "genotype": ("Genotype", "string"), "seen": ("Seen", "date"),
           "ok": ("OK", "boolean"), "odd name": ("Odd Name", "string")}
ROWS = [  # as CSV cells, text
    ("1", "1", "30", "50", "AA", "2024-01-01", "true", "x"),
    ("2", "1", "28.5", "6", "CC", "2024-02-01", "false", "y"),
    ("3", "2", "35", "100", "GT", "2023-12-31", "true", "z"),
    ("4", "2", "", "55", "TT", "", "", ""),
    ("5", "3", "n/a", "9", "AG", "2024-03-01", "false", "x"),
]


def kept(where: str, tmp: Path) -> list[str]:
    """IDs DuckDB keeps from ROWS, read from a CSV file as text as the job reads it."""
    path = tmp / "rows.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([v[0] for v in COLUMNS.values()])
        w.writerows(ROWS)
    con = duckdb.connect()
    rel = con.read_csv(str(path), header=True, all_varchar=True)
    out = rel.filter(to_duckdb(parse(where, COLUMNS))).select(duckdb.ColumnExpression("ID")).fetchall()
    return [r[0] for r in out]


@pytest.mark.parametrize("where, ids", [
    ("Quality > 30", ["3"]),
    ("quality > 28 and depth < 60", ["1", "2"]),
    ("QUALITY >= 28.5 OR genotype = 'TT'", ["1", "2", "3", "4"]),
    ("NOT depth BETWEEN 10 AND 60", ["2", "3", "5"]),
    ("depth NOT BETWEEN 10 AND 60", ["2", "3", "5"]),
    ("chromosome IN (1, 3)", ["1", "2", "5"]),
    ("chromosome NOT IN (1, 3)", ["3", "4"]),
    ("genotype LIKE 'A%'", ["1", "5"]),
    ("genotype NOT LIKE 'A%'", ["2", "3", "4"]),
    ("quality IS NULL", ["4", "5"]),  # an empty cell, and a cell a double cannot read
    ("quality IS NOT NULL", ["1", "2", "3"]),
    ("seen > '2024-01-15'", ["2", "5"]),
    ("seen >= DATE '2024-01-01' AND seen < DATE '2024-02-01'", ["1"]),
    ("ok", ["1", "3"]),
    ("ok = FALSE", ["2", "5"]),
    ('"Odd Name" = \'x\'', ["1", "5"]),
    ("-1 < depth AND 50 <= depth", ["1", "3", "4"]),
    ("(depth > 50)", ["3", "4"]),
    ("NOT genotype NOT LIKE 'A%'", ["1", "5"]),
    ("NOT quality IS NOT NULL", ["4", "5"]),
    ("depth > quality", ["1", "3"]),
])
def test_typed_semantics(where: str, ids: list[str], tmp_path: Path) -> None:
    """Numbers compare as numbers (100 > 50 and 6 < 50, unlike text), dates as dates."""
    assert kept(where, tmp_path) == ids


@pytest.mark.parametrize("where, says", [
    ("Chromosome = 'X'", "is bigint but 'X' is string"),
    ("genotype > 5", "is string but 5 is bigint"),
    ("nope > 1", "no column 'nope'"),
    ("1 = 1; DROP TABLE genomics", "exactly one condition"),
    ("SELECT * FROM genomics", "SELECT statement is not allowed"),
    ("depth", "not a condition"),
    ("depth + 1 > 2", "arithmetic (+) is not allowed"),
    ("lower(genotype) = 'aa'", "function"),
    ("depth = NULL", "use IS NULL"),
    ("t.depth > 1", "without a table prefix"),
    ("1 > 0", "compares two constants"),
    ("depth > (SELECT 1)", "sub-query"),
    ("depth IN (SELECT id FROM x)", "IN takes"),
    ("seen > '2024-13-45'", "not a date"),
    ("depth LIKE '5%'", "LIKE works on string columns"),
    ("genotype LIKE 'a\\_b'", "escapes"),
    ("depth > 99999999999999999999", "64-bit"),
    ("", "empty"),
    ("depth >", "not a valid condition"),
    ("depth > 1 --", None),  # a trailing comment is still one condition: accepted
])
def test_refused_with_one_line(where: str, says: str | None) -> None:
    if says is None:
        parse(where, COLUMNS)
        return
    with pytest.raises(UsageError) as info:
        parse(where, COLUMNS)
    assert says in str(info.value)
    assert "\n" not in str(info.value)


def test_literals_are_values_not_text(tmp_path: Path) -> None:
    """A string literal that looks like SQL stays a value: it matches nothing and breaks nothing."""
    assert kept("genotype = 'AA'' OR 1=1 --'", tmp_path) == []
    assert kept("genotype = 'AA'", tmp_path) == ["1"]


def test_dynamodb_condition_uses_placeholders() -> None:
    from boto3.dynamodb.conditions import ConditionExpressionBuilder

    built = ConditionExpressionBuilder().build_expression(to_dynamodb(parse("Depth > 50 AND Chromosome = '4'", None)))
    assert built.condition_expression == "(#n0 > :v0 AND #n1 = :v1)"
    assert built.attribute_name_placeholders == {"#n0": "Depth", "#n1": "Chromosome"}
    values = built.attribute_value_placeholders
    assert str(values[":v0"]) == "50" and values[":v1"] == "4"  # a number, and a string


def test_dynamodb_like_is_a_prefix_only() -> None:
    to_dynamodb(parse("Genotype LIKE 'A%'", None))
    with pytest.raises(UsageError, match="prefix"):
        to_dynamodb(parse("Genotype LIKE '%A'", None))


def test_date_literal_parsed() -> None:
    p = parse("seen = '2024-01-01'", COLUMNS)
    assert p.tree.right.value == dt.date(2024, 1, 1)  # type: ignore[union-attr]
