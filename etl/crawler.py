"""A Glue-style crawler: classify CSV files, infer each column's type, register the table.

What it does, following Glue's built-in CSV classifier:
- **Delimiter**: the first of comma, tab, pipe, semicolon and Ctrl-A that splits the first
  lines into the same number (at least two) of columns, quotes respected.
- **Header**: present if the first row is all text and, in at least one column, the rows
  below are not (Glue's rule: a first row that looks like the data is data). All-text files
  therefore get `col0, col1, ...` unless `header="present"` says otherwise.
- **Types**, per column over every row of every file (empty cells do not vote): `bigint`
  (64-bit integers), `double` (decimal numbers; with integers the column is double),
  `boolean` (true / false), `date` (YYYY-MM-DD), else `string`. So the lecture's Chromosome
  is bigint, as in its screenshot, although the domain keeps it a string ("X" is a chromosome).
- **Names**: lower case (Glue stores them so; predicates match them case-insensitively); the
  header's own spelling is kept in each column's parameters, for the job's output.
- Several files under one prefix form one table if their headers agree; their types merge
  (bigint + double -> double, anything else mixed -> string).

Unlike Glue, which samples the first megabyte of each file, every row is read: a type
inferred from a sample can be refuted by row 10,001.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from etl import storage
from etl.catalog import Catalog, Column, Table, glue_name
from models.errors import DataError, UsageError

DELIMITERS = (",", "\t", "|", ";", "\x01")
SNIFF_LINES = 20
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BOOL = ("true", "false")


def value_type(text: str) -> str | None:
    """The Glue type of one cell (None for an empty cell, which does not vote)."""
    v = text.strip()
    if not v:
        return None
    if _INT.fullmatch(v):
        return "bigint" if -(2**63) <= int(v) < 2**63 else "double"
    if _FLOAT.fullmatch(v):
        return "double"
    if v.lower() in _BOOL:
        return "boolean"
    if _DATE.fullmatch(v):
        try:
            dt.date.fromisoformat(v)
            return "date"
        except ValueError:
            return "string"
    return "string"


def merge(a: str | None, b: str | None) -> str | None:
    """The type of a column holding values of types a and b."""
    if a is None or a == b:
        return b
    if b is None:
        return a
    if {a, b} == {"bigint", "double"}:
        return "double"
    return "string"


@dataclass
class FileShape:
    location: str
    delimiter: str
    header: list[str] | None     # the header row as written, if the file has one
    types: list[str | None]      # per column, over the data rows
    records: int
    multiline: bool = False      # a quoted cell holds a line break (readers must be told)


def sniff_delimiter(lines: list[str], where: str) -> str:
    for delim in DELIMITERS:
        widths = {len(row) for row in csv.reader(lines, delimiter=delim, quotechar='"') if row}
        if len(widths) == 1 and widths.pop() >= 2:
            return delim
    raise UsageError(f"{where}: not a CSV file Glue's classifier accepts (no delimiter among comma, tab, pipe, "
                     "semicolon, Ctrl-A splits its first lines into the same number of columns, at least two)")


def _rows(lines: Iterable[str], delimiter: str, where: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    try:
        for row in reader:
            if row:
                yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(where, reader.line_num, None, f"malformed CSV: {exc}") from None


def shape_of(location: str, header: str = "auto") -> FileShape:
    """Read one file or object whole: its delimiter, header and column types."""
    lines = storage.open_lines(location)
    head: list[str] = []
    for line in lines:
        head.append(line)
        if len(head) >= SNIFF_LINES:
            break
    if not head:
        raise UsageError(f"{location}: empty file")
    delimiter = sniff_delimiter(head, location)

    def all_lines() -> Iterator[str]:
        yield from head
        yield from lines

    rows = _rows(all_lines(), delimiter, location)
    first_line, first = next(rows)
    width = len(first)
    types: list[str | None] = [None] * width
    records = 0
    multiline = False
    last = first_line
    for line, row in rows:
        multiline = multiline or line - last > 1
        last = line
        if len(row) != width:
            raise DataError(location, line, None, f"expected {width} columns, found {len(row)}")
        for i, cell in enumerate(row):
            types[i] = merge(types[i], value_type(cell))
        records += 1
    first_types = [value_type(c) for c in first]
    looks_like_header = all(t in ("string", None) for t in first_types) and any(
        t not in ("string", None) for t in types) and len({c.strip().lower() for c in first}) == width
    has_header = {"present": True, "absent": False}.get(header, looks_like_header)
    if header not in ("auto", "present", "absent"):
        raise UsageError(f"--header {header!r}: use auto, present or absent")
    if not has_header:
        for i, t in enumerate(first_types):
            types[i] = merge(types[i], t)
        records += 1
    return FileShape(location, delimiter, [c.strip() for c in first] if has_header else None, types, records,
                     multiline)


def column_names(header: list[str] | None, width: int) -> list[Column]:
    """Glue's names: the header lower-cased (duplicates numbered), or col0, col1..."""
    if header is None:
        return [Column(f"col{i}", "string", f"col{i}") for i in range(width)]
    out: list[Column] = []
    seen: set[str] = set()
    for i, raw in enumerate(header):
        name = raw.lower() or f"col{i}"
        base, n = name, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        out.append(Column(name, "string", raw or name))
    return out


@dataclass
class CrawlResult:
    table: Table
    files: list[str]
    records: int
    created: bool


def default_table_name(source: str) -> str:
    """As a crawler names a table: after the file (without its suffix), folder or bucket."""
    if storage.is_s3(source):
        url = storage.S3Url.parse(source)
        name = url.key.rstrip("/").rpartition("/")[2] or url.bucket
    else:
        name = str(source).rstrip("/").rpartition("/")[2] or "table"
    stem = name.rsplit(".", 1)[0] if "." in name and not name.startswith(".") else name
    return glue_name(stem)


def infer(source: str, header: str = "auto") -> tuple[str, list[Column], list[str], int, bool]:
    """(delimiter, columns, files, records, has_header) of the CSV data at `source`."""
    return _infer(source, header)[:5]  # type: ignore[return-value]


def _infer(source: str, header: str = "auto") -> tuple[str, list[Column], list[str], int, bool, bool]:
    files = storage.data_files(source)
    shapes = [shape_of(f, header) for f in files]
    first = shapes[0]
    for s in shapes[1:]:
        if s.delimiter != first.delimiter or len(s.types) != len(first.types) or (
                [h.lower() for h in s.header or []] != [h.lower() for h in first.header or []]):
            raise UsageError(f"{s.location} and {first.location} differ in delimiter or columns: crawl them as "
                             "separate tables")
    types = first.types
    for s in shapes[1:]:
        types = [merge(a, b) for a, b in zip(types, s.types, strict=True)]
    columns = [Column(c.name, t or "string", c.header)
               for c, t in zip(column_names(first.header, len(types)), types, strict=True)]
    return (first.delimiter, columns, files, sum(s.records for s in shapes), first.header is not None,
            any(s.multiline for s in shapes))


def crawl(source: str, database: str, table: str | None = None, *, header: str = "auto",
          catalog: Catalog | None = None) -> CrawlResult:
    """Classify the CSV data at `source` (a file, a directory, `s3://bucket/prefix`) and
    create or update its table in the Data Catalog."""
    catalog = catalog or Catalog()
    db = catalog.database_name(database)
    name = glue_name(table) if table else default_table_name(source)
    delimiter, columns, files, records, has_header, multiline = _infer(source, header)
    location = str(storage.S3Url.parse(source)) if storage.is_s3(source) else str(Path(source).resolve())
    t = Table(database=db, name=name, columns=columns, location=location, classification="csv",
              delimiter=delimiter, header=has_header,
              parameters={"recordCount": str(records), **({"mmbench.multiline": "true"} if multiline else {})})
    created = catalog.put_table(t)
    return CrawlResult(t, files, records, created)
