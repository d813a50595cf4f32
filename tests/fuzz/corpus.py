"""A corpus of malformed inputs, and the check that each is refused cleanly and loses nothing.

`build(directory)` writes the corpus: for every file kind (genomics CSV, samples CSV, patients /
diagnoses / lab results JSON, VCF) and every category of damage, a set of files that are good
ones with ONE value or structure broken, each recorded with where its error must point (the
file, and the line and field where they are known). `parameter_cases()` are bad `-p` values
for `mmbench query`, reads and writes.

`check(backend, cases)` loads the seed into `backend` through the CLI, then runs `mmbench load`
with each malformed file (and `mmbench query` with each bad parameter) inside this process
(the CLI's main() with an argv, stderr captured: a thousand cases take seconds, not minutes),
and counts per category: the cases, tracebacks, errors that are not exactly one line naming
the file, line and field (for a parameter: a usage error naming it), and cases after which the
seed's answers changed. Every count but the first must be zero.

    python -m tests.fuzz.corpus --backend sqlite [--keep DIR]

builds the corpus in a temporary directory, runs the check and prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import io
import json
import os
import re
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from models.seed import SEED_DIR

KINDS = ("genomics", "samples", "patients", "diagnoses", "lab_results", "vcf", "parameter")


@dataclass(frozen=True)
class Case:
    """One malformed input and where its error must point."""

    category: str
    kind: str                     # one of KINDS
    argv: tuple[str, ...]         # the mmbench command without `--backend B`
    file: str | None = None       # the file the error must name (None for a parameter)
    line: int | None = None       # the line it must name (None: any line)
    field: str | None = None      # the field it must name (None: any field)
    parameter: str | None = None  # for a bad parameter, the parameter's name
    note: str = ""

    def command(self, backend: str) -> list[str]:
        return [self.argv[0], *self.argv[1:2], "--backend", backend, *self.argv[2:]] if self.argv[0] == "query" \
            else [self.argv[0], "--backend", backend, *self.argv[1:]]


# ---------------------------------------------------------------- good files to break

SAMPLE_PATIENTS = [line.split(",") for line in (SEED_DIR / "samples.csv").read_text().split()[1:]]
GENOMICS_HEADER = ["ID", "Chromosome", "Position", "Reference_Allele", "Alternate_Allele", "Genotype", "Quality", "Depth"]
GENOMICS_ROWS = [line.split(",") for line in (SEED_DIR / "genomics.csv").read_text().split()[1:]]
SAMPLES_ROWS = SAMPLE_PATIENTS
JSON_OBJECTS = {kind: json.loads((SEED_DIR / f"{kind}.json").read_text()) for kind in ("patients", "diagnoses", "lab_results")}

VCF_HEADER = [
    "##fileformat=VCFv4.2",
    "##contig=<ID=2>",
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    '##FORMAT=<ID=GQ,Number=1,Type=Float,Description="Genotype quality">',
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3",
]
VCF_RECORDS = [  # lines 8, 9, 10
    ["2", "100", "rs1", "A", "G", "50", "PASS", "DP=20", "GT:GQ:DP", "0/1:30:10", "0/0:20:5", "1/1:12:3"],
    ["2", "200", ".", "C", "T,G", ".", "PASS", "DP=30", "GT:GQ:DP", "1/2:40:7", "0/0:.:.", "0|1:12.5:3"],
    ["X", "400", ".", "G", "A", "7", "PASS", "DP=9", "GT:GQ:DP", "1:5:2", "0:5:2", ".:.:."],
]
VCF_COLUMNS = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", "S1", "S2", "S3"]
VCF_FIRST_RECORD_LINE = len(VCF_HEADER) + 1

Text = str | bytes


def _b(x: Text) -> bytes:
    return x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass")


def csv_cell(value: Text) -> bytes:
    """A CSV cell, quoted when it must be (commas, quotes, line breaks)."""
    raw = _b(value)
    if any(c in raw for c in (b",", b'"', b"\r", b"\n")):
        return b'"' + raw.replace(b'"', b'""') + b'"'
    return raw


def csv_file(header: list[Text], rows: list[list[Text]], quote: bool = True) -> bytes:
    cell = csv_cell if quote else _b
    return b"".join(b",".join(cell(c) for c in row) + b"\n" for row in [header, *rows])


def json_object_lines(pairs: list[tuple[Text, Text]]) -> list[bytes]:
    """An object as the seed writes it, one `"key": value` a line; values are JSON text (raw)."""
    return [b" {", *(b'  "' + _b(k) + b'": ' + _b(v) + (b"," if i < len(pairs) - 1 else b"")
                     for i, (k, v) in enumerate(pairs)), b" }"]


def json_file(objects: list[list[tuple[Text, Text]]], tail: bytes = b"\n") -> tuple[bytes, list[int]]:
    """A JSON array file and the line each object starts on."""
    out, starts, line = [b"["], [], 2
    for i, pairs in enumerate(objects):
        lines = json_object_lines(pairs)
        if i < len(objects) - 1:
            lines[-1] += b","
        starts.append(line)
        line += sum(x.count(b"\n") for x in lines) + len(lines)
        out.extend(lines)
    return b"\n".join(out) + b"\n]" + tail, starts


def pairs_of(obj: dict[str, Any]) -> list[tuple[Text, Text]]:
    return [(k, json.dumps(v)) for k, v in obj.items()]


def vcf_file(records: list[list[Text]], header: list[Text] | None = None) -> bytes:
    lines = [_b(x) for x in (header or VCF_HEADER)] + [b"\t".join(_b(c) for c in r) for r in records]
    return b"\n".join(lines) + b"\n"


# ---------------------------------------------------------------- the corpus

@dataclass
class Corpus:
    """Writes malformed files into `directory` and collects their Cases."""

    directory: Path
    cases: list[Case] = field(default_factory=list)
    good: dict[str, Path] = field(default_factory=dict)
    count: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        base = self.directory / "good"
        base.mkdir(exist_ok=True)
        for name in ("genomics.csv", "samples.csv", "patients.json", "diagnoses.json", "lab_results.json"):
            (base / name).write_bytes((SEED_DIR / name).read_bytes())
        (base / "calls.vcf").write_bytes(vcf_file(VCF_RECORDS))
        self.good = {"genomics": base / "genomics.csv", "samples": base / "samples.csv",
                     "patients": base / "patients.json", "diagnoses": base / "diagnoses.json",
                     "lab_results": base / "lab_results.json", "vcf": base / "calls.vcf"}

    def write(self, kind: str, data: bytes, suffix: str) -> Path:
        self.count[kind] += 1
        path = self.directory / kind / f"{kind}-{self.count[kind]:04d}{suffix}"
        path.parent.mkdir(exist_ok=True)
        if suffix.endswith(".gz"):
            data = gzip.compress(data)
        path.write_bytes(data)
        return path

    def files_case(self, category: str, kind: str, data: bytes, line: int | None, field_: str | None,
                   note: str = "", genomics_alone: bool = False) -> None:
        """A load of the seed's five files with the `kind` one replaced by `data`."""
        suffix = ".csv" if kind in ("genomics", "samples") else ".json"
        path = self.write(kind, data, suffix)
        files = dict(self.good)
        files[kind] = path
        if genomics_alone:  # a genomics CSV with its own Patient_ID column: no samples file
            argv = ("load", "--csv", str(path), "--patients", str(files["patients"]))
        else:
            argv = ("load", "--csv", str(files["genomics"]), "--samples", str(files["samples"]),
                    "--patients", str(files["patients"]), "--diagnoses", str(files["diagnoses"]),
                    "--lab-results", str(files["lab_results"]))
        self.cases.append(Case(category, kind, argv, str(path), line, field_, note=note))

    def vcf_case(self, category: str, data: bytes, line: int | None, field_: str | None, note: str = "",
                 gz: bool = False) -> None:
        path = self.write("vcf", data, ".vcf.gz" if gz else ".vcf")
        self.cases.append(Case(category, "vcf", ("load", "--vcf", str(path)), str(path), line, field_, note=note))


# Values by what they break (text; CSV and VCF write them as they are, JSON as strings or raw).
BEYOND_64 = ["9223372036854775808", "-9223372036854775809", "18446744073709551616", "1" + "0" * 40, "9" * 5000]
NON_ASCII_DIGITS = ["١٢٣", "１２３", "१२३", "1_000", "12٣", "⁵", "٣٫٥"]
NOT_INTEGER = ["abc", "1.5", "1e3", "0x10", "+", "--1", "1 2", "50.0"]
NOT_FINITE = ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e-400"]
NUMBER_OUT_OF_RANGE = ["1e16", "-1e16", "1e-16", "123456789012345678"]
NOT_NUMBER = ["abc", "1.2.3", "1e", ".", "0x1p3", "1_0.5", "３.５", "1,5"]
BAD_DATES = ["20240101", "2024-W01-1", "2024-02-30", "2024-1-05", "2024-01-01T00:00:00", "0000-01-01",
             "２０２４-01-01", "2024/01/01", "2024-13-01", "24-01-01", "2024-01-01Z", "abc"]
CONTROL_TEXT = ["a\x01b", "a\x1bb", "a\x7fb", "a\x85b", "a\nb", "a\tb\x0b"]
NUL_TEXT = ["a\x00b", "\x00", "abc\x00"]
BAD_BYTES = [b"\xff", b"\xc0\x80", b"\xe2\x82", b"\xed\xa0\x80", b"\x80abc", b"\xf8\x88\x80\x80\x80", b"ab\xfe"]
BAD_CHROMOSOMES = ["23", "0", "chr23", "XY", "M1", "１", "chrUn_gl000220"]
BAD_ALLELES = ["Z", "A1", "a-c", "R", "ACGTX", "A C"]
BAD_CODES = ["E11.99", "XYZ", "i10", "I10.", "E11.9 x", "I１0"]
MB = 1_000_000


def _genomics(corpus: Corpus) -> None:
    header, rows = GENOMICS_HEADER, GENOMICS_ROWS
    cols = {c: i for i, c in enumerate(header)}

    def one(category: str, column: str, value: Text, row: int = 4, quote: bool = True, note: str = "",
            field_: str | None = "same", line: int | None = None) -> None:
        new = [list(r) for r in rows]
        new[row][cols[column]] = value  # type: ignore[call-overload]
        corpus.files_case(category, "genomics", csv_file(header, new, quote), row + 2 if line is None else line,
                          column if field_ == "same" else field_, note)

    def with_patient(category: str, value: Text, row: int = 3) -> None:
        new = [[*r, p] for r, (_, p) in zip(rows, SAMPLE_PATIENTS, strict=True)]
        new[row][-1] = value  # type: ignore[call-overload]
        corpus.files_case(category, "genomics", csv_file([*header, "Patient_ID"], new), row + 2, "Patient_ID",
                          genomics_alone=True)

    for v in BEYOND_64:
        for column in ("Position", "Depth"):
            one("integer beyond 64 bits", column, v)
        with_patient("integer beyond 64 bits", v)
    for v in NON_ASCII_DIGITS:
        for column in ("Position", "Depth", "Quality"):
            one("non-ASCII digits", column, v)
        with_patient("non-ASCII digits", v)
    for v in NOT_INTEGER:
        one("not a number", "Position", v)
        one("not a number", "Depth", v)
    for v in NOT_FINITE + NUMBER_OUT_OF_RANGE:
        one("non-finite or out-of-range number", "Quality", v)
    for v in NOT_NUMBER:
        one("not a number", "Quality", v)
    for column, values in (("Position", ["0", "-1", "-100"]), ("Depth", ["-1"]), ("Quality", ["-0.5", "-1e3"])):
        for v in values:
            one("out of domain", column, v)
    for v in BAD_CHROMOSOMES:
        one("out of domain", "Chromosome", v)
    for column in ("Reference_Allele", "Alternate_Allele", "Genotype"):
        for v in BAD_ALLELES:
            one("not an allele", column, v)
        one("text too long", column, "A" * 401 if column == "Genotype" else "A" * 101)
    for row in (0, 5, 9):
        r = rows[row]
        one("REF == ALT", "Alternate_Allele", r[cols["Reference_Allele"]], row=row)
    for row, gt in ((0, "GG"), (1, "CT"), (2, "GGC"), (3, "NX"), (4, "AGC"), (6, "TTTTA"), (7, "")):
        one("genotype not from REF/ALT", "Genotype", gt, row=row)
    for v in NUL_TEXT:
        one("NUL", "ID", v)
        one("NUL", "Genotype", v)
    for v in CONTROL_TEXT:
        one("control character", "ID", v)
    for v in BAD_BYTES:
        one("bytes not UTF-8", "ID", v)
        one("bytes not UTF-8", "Position", v)
        one("bytes not UTF-8", "Quality", b"3" + v)
    one("bytes not UTF-8", "ID", b"\xed\xa0\x80", note="a UTF-8-encoded lone surrogate")
    for v in ("", "   "):
        one("empty text", "ID", v)
    one("text too long", "ID", "x" * 501)
    one("1 MB field", "ID", "x" * MB, note="beyond the csv reader's 131,072-character limit")
    one("1 MB field", "Genotype", "A" * MB)
    one("1 MB field", "Depth", "1" * MB)
    one("1 MB field", "Position", "9" * 200_000)
    # structure
    for i, column in enumerate(header):
        dup = list(header)
        dup.append(column)
        corpus.files_case("repeated column", "genomics", csv_file(dup, [[*r, r[i]] for r in rows]), 1, column)
        missing = [c for c in header if c != column]
        corpus.files_case("missing column", "genomics",
                          csv_file(missing, [[x for j, x in enumerate(r) if j != i] for r in rows]), 1, column)
    corpus.files_case("unknown column", "genomics", csv_file([*header, "Notes"], [[*r, "x"] for r in rows]), 1, "Notes")
    corpus.files_case("unknown column", "genomics", csv_file([*header, "Patient_Id"], [[*r, "1"] for r in rows]),
                      1, "Patient_Id", note="a misspelt optional column would silently drop patients")
    corpus.files_case("unknown column", "genomics", csv_file([*header, ""], [[*r, ""] for r in rows]), 1, "(column 9)")
    corpus.files_case("malformed structure", "genomics", b"", 1, "(header)", note="empty file")
    corpus.files_case("malformed structure", "genomics", b"\n\n", 1, "(header)", note="blank lines only")
    short = [list(r) for r in rows]
    short[2] = short[2][:5]
    corpus.files_case("malformed structure", "genomics", csv_file(header, short), 4, "Genotype", note="short row")
    long_ = [list(r) for r in rows]
    long_[6] = [*long_[6], "junk"]
    corpus.files_case("trailing garbage", "genomics", csv_file(header, long_), 8, "(column 9)", note="extra value")
    for value, note in ((b'"abc', "unclosed quote at the end"), (b'"a"b', "text after a closing quote"),
                        (b'"ab', "unclosed quote swallowing the rest")):
        one("malformed structure", "ID", value, quote=False, note=note, row=9 if note.endswith("end") else 4)
    text = csv_file(header, rows).replace(b"\n", b"\r", 3)
    corpus.files_case("malformed structure", "genomics", text, 1, None, note="old Mac line ends")
    corpus.files_case("trailing garbage", "genomics", csv_file(header, rows) + b"\x00\x00\x00\n", 12, "Chromosome",
                      note="NUL bytes after the last row")


def _samples(corpus: Corpus) -> None:
    header, rows = ["ID", "Patient_ID"], SAMPLES_ROWS

    def one(category: str, column: str, value: Text, row: int = 4, field_: str | None = "same",
            line: int | None = None, note: str = "") -> None:
        new = [list(r) for r in rows]
        new[row][header.index(column)] = value  # type: ignore[call-overload]
        corpus.files_case(category, "samples", csv_file(header, new), row + 2 if line is None else line,
                          column if field_ == "same" else field_, note)

    for v in BEYOND_64:
        one("integer beyond 64 bits", "Patient_ID", v)
    for v in NON_ASCII_DIGITS:
        one("non-ASCII digits", "Patient_ID", v)
    for v in [*NOT_INTEGER, ""]:
        one("not a number", "Patient_ID", v)
    for v in NUL_TEXT:
        one("NUL", "ID", v)
    for v in CONTROL_TEXT:
        one("control character", "ID", v)
    for v in BAD_BYTES:
        one("bytes not UTF-8", "ID", v)
        one("bytes not UTF-8", "Patient_ID", b"1" + v)
    one("1 MB field", "ID", "x" * MB)
    one("text too long", "ID", "x" * 501)
    one("repeated key", "ID", rows[1][0], row=6, note="an ID given twice")
    one("dangling reference", "Patient_ID", "999", row=3, note="the samples file gives an unknown patient")
    corpus.files_case("repeated column", "samples", csv_file(["ID", "Patient_ID", "ID"], [[*r, r[0]] for r in rows]),
                      1, "ID")
    corpus.files_case("missing column", "samples", csv_file(["ID"], [[r[0]] for r in rows]), 1, "Patient_ID")


def _json_kind(corpus: Corpus, kind: str) -> None:
    objects = [pairs_of(o) for o in JSON_OBJECTS[kind]]
    keys = list(JSON_OBJECTS[kind][0])

    def one(category: str, key: str, raw: Text, index: int = 3, at: str = "object", field_: str | None = "same",
            note: str = "") -> None:
        new = [list(p) for p in objects]
        new[index] = [(k, raw if k == key else v) for k, v in new[index]]
        data, starts = json_file(new)
        line = starts[index] if at == "object" else starts[index] + 1 + keys.index(key)
        corpus.files_case(category, kind, data, line, key if field_ == "same" else field_, note)

    def replace(category: str, index: int, pairs: list[tuple[Text, Text]], field_: str | None, at_key: int | None = None,
                note: str = "") -> None:
        new = [list(p) for p in objects]
        new[index] = pairs
        data, starts = json_file(new)
        line = starts[index] if at_key is None else starts[index] + 1 + at_key
        corpus.files_case(category, kind, data, line, field_, note)

    ints = [k for k in keys if k.endswith("_id") or k == "age"]
    texts = [k for k in keys if k in ("name", "test_name", "unit")]
    dates = [k for k in keys if k in ("diagnosed_on", "taken_on")]
    for key in ints:
        for v in BEYOND_64:
            one("integer beyond 64 bits", key, v)
            one("integer beyond 64 bits", key, json.dumps(v))
        for v in NON_ASCII_DIGITS:
            one("non-ASCII digits", key, json.dumps(v))
            one("non-ASCII digits", key, v, at="key")  # raw: not JSON at all
        for raw in ("1.5", "50.0", "1e3", "true", "null", "[]", "{}", '"abc"', '""', '"1.0"'):
            one("not a number", key, raw)
    if kind == "lab_results":
        for v in NOT_FINITE + NUMBER_OUT_OF_RANGE:
            one("non-finite or out-of-range number", "value", json.dumps(v))
        for raw in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e-400", "1e16", "-1e16", "1e-16"):
            one("non-finite or out-of-range number", "value", raw)
        for v in NOT_NUMBER:
            one("not a number", "value", json.dumps(v))
        for raw in ("true", "null", "[1]", "{}"):
            one("not a number", "value", raw)
    if kind == "patients":
        for v in ("151", "-2", "200", "-1000"):
            one("out of domain", "age", v)
        for v in ("X", "f", "", "male", "MF", "Ｍ"):
            one("out of domain", "sex", json.dumps(v))
        one("out of domain", "sex", "1")
    if kind == "diagnoses":
        for v in BAD_CODES:
            one("out of domain", "code", json.dumps(v))
        one("out of domain", "code", "10")
    for key in dates:
        for v in BAD_DATES:
            one("bad date", key, json.dumps(v))
        one("bad date", key, "20240101")
    for key in texts:
        for v in NUL_TEXT:
            one("NUL", key, json.dumps(v))
        for v in CONTROL_TEXT:
            one("control character", key, json.dumps(v))
        for esc in ('"\\ud800"', '"a\\udfffb"', '"\\udc80"', '"x\\ud83d"'):
            one("lone surrogate", key, esc)
        for v in BAD_BYTES:
            one("bytes not UTF-8", key, b'"' + v + b'"', at="key")
        one("bytes not UTF-8", key, b'"\xed\xa0\x80"', at="key", note="a UTF-8-encoded lone surrogate")
        for v in ("", "   "):
            one("empty text", key, json.dumps(v))
        one("text too long", key, json.dumps("x" * 201 if key != "unit" else "x" * 51))
        one("1 MB field", key, json.dumps("x" * MB))
        one("not a string", key, "12")
        one("not a string", key, "null")
        one("NUL", key, b'"a\x00b"', at="key", note="a raw NUL inside a JSON string")
        one("control character", key, b'"a\x01b"', at="key", note="a raw control character inside a JSON string")
    first = keys[0]
    for depth in (20, 1000, 100_000):
        one("deep nesting", keys[1], "[" * depth + "1" + "]" * depth, at="key")
        one("deep nesting", keys[1], '{"a":' * depth + "1" + "}" * depth, at="key")
    for key in keys:
        replace("repeated key", 2, [*objects[2], (key, dict(objects[2])[key])], key)
        replace("missing key", 5, [p for p in objects[5] if p[0] != key], key)
    replace("unknown key", 4, [*objects[4], ("_id", '"x"')], "_id")
    replace("unknown key", 4, [*objects[4], ("notes", "1")], "notes")
    # structure
    good, starts = json_file(objects)
    end_line = good.count(b"\n") + 1
    for tail, note in ((b"x", "a letter"), (b"]", "a second ]"), (b"[]", "a second array"), (b"\x00", "a NUL byte"),
                       (b"\n{}", "an object"), (b" // end", "a comment"), (b"1", "a number")):
        data, _ = json_file(objects, tail=tail + b"\n")
        at = end_line - 1 + tail.count(b"\n")
        corpus.files_case("trailing garbage", kind, data, at, "(document)", note)
    for data, line, field_, note in (
        (b"", 1, "(document)", "empty file"),
        (b"  \n", 2, "(document)", "blank"),
        (b'{"a": 1}', 1, "(document)", "an object, not an array"),
        (good[: len(good) // 2], None, None, "truncated"),
        (good.replace(b"},\n {", b"}\n {", 1), starts[1], "(document)", "a missing comma"),
        (good.replace(b"\n }\n]", b"\n },\n]"), None, None, "a trailing comma"),
        (good.replace(b'"', b"'"), 3, "(object)", "single quotes"),
        (b"[1, 2]", 1, "(document)", "numbers, not objects"),
        (b"[[]]", 1, "(document)", "an array, not an object"),
        (b"[" * 100_000, 1, "(object)", "only brackets"),
        (b"\xef\xbb\xbf\xef\xbb\xbf" + good, 1, "(document)", "two byte-order marks"),
    ):
        corpus.files_case("malformed structure", kind, data, line, field_, note)
    if kind in ("diagnoses", "lab_results"):
        one("dangling reference", "patient_id", "999", index=6)
    replace("repeated id", 7, objects[2], first, note="the id of an earlier object")


def _vcf(corpus: Corpus) -> None:
    first = VCF_FIRST_RECORD_LINE

    def one(category: str, column: str, value: Text, record: int = 0, field_: str | None = "same",
            note: str = "", sub: int | None = None) -> None:
        records: list[list[Text]] = [list(r) for r in VCF_RECORDS]
        i = VCF_COLUMNS.index(column)
        if sub is not None:
            parts: list[Text] = list(VCF_RECORDS[record][i].split(":"))
            parts[sub] = value
            value = b":".join(_b(p) for p in parts)
        records[record][i] = value
        name = column if field_ == "same" else field_
        corpus.vcf_case(category, vcf_file(records), first + record, name, note)

    for v in BEYOND_64:
        one("integer beyond 64 bits", "POS", v)
        one("integer beyond 64 bits", "S1", v, sub=2, field_="DP of sample S1")
        one("integer beyond 64 bits", "INFO", "DP=" + v, field_="INFO/DP")
    for v in NON_ASCII_DIGITS:
        one("non-ASCII digits", "POS", v)
        one("non-ASCII digits", "QUAL", v)
        one("non-ASCII digits", "S1", v, sub=2, field_="DP of sample S1")
        one("non-ASCII digits", "S1", v, sub=1, field_="GQ of sample S1")
        one("non-ASCII digits", "INFO", "DP=" + v, field_="INFO/DP")
        one("non-ASCII digits", "S1", f"0/{v}", sub=0, field_="GT of sample S1")
        one("non-ASCII digits", "S2", f"{v}/0", sub=0, field_="GT of sample S2")
    for v in NOT_INTEGER:
        one("not a number", "POS", v)
        one("not a number", "S3", v, sub=2, field_="DP of sample S3")
    for v in NOT_FINITE + NUMBER_OUT_OF_RANGE:
        one("non-finite or out-of-range number", "QUAL", v)
        one("non-finite or out-of-range number", "S1", v, sub=1, field_="GQ of sample S1")
    for v in NOT_NUMBER:
        if v != ".":  # QUAL "." is missing, not malformed
            one("not a number", "QUAL", v)
    one("out of domain", "POS", "0")
    one("out of domain", "POS", "-5")
    one("out of domain", "QUAL", "-1")
    one("out of domain", "S1", "-4", sub=2, field_="DP of sample S1")
    one("out of domain", "INFO", "DP=-1", field_="INFO/DP")
    one("out of domain", "S1", "0/2", sub=0, field_="GT of sample S1", note="allele index beyond the ALT list")
    one("out of domain", "S3", "3|1", sub=0, record=1, field_="GT of sample S3")
    for v in ("0/x", "0-1", "a", "0/-1", "0//1", "0/99999999999", ""):
        one("not a genotype", "S2", v, sub=0, field_="GT of sample S2")
    one("REF == ALT", "ALT", "A")
    one("REF == ALT", "ALT", "T,C", record=1, note="an ALT equal to REF in a multi-allelic site")
    one("REF == ALT", "ALT", "T,T", record=1, note="an ALT repeated")
    for v in BAD_ALLELES:
        one("not an allele", "REF", v)
        one("not an allele", "ALT", v)
    for v in NUL_TEXT:
        one("NUL", "ID", v)
        one("NUL", "CHROM", v)
    for v in CONTROL_TEXT:
        if "\n" not in v and "\t" not in v:
            one("control character", "ID", v)
    for v in ("rs 1", "rs1;;rs2", " rs1"):
        one("malformed structure", "ID", v)
    for v in BAD_BYTES:
        one("bytes not UTF-8", "ID", v)
        one("bytes not UTF-8", "S2", v, field_="sample S2")
        one("bytes not UTF-8", "POS", v)
    one("text too long", "ID", "x" * 498, note="the variant id 'ID:S1' is longer than 500 characters")
    one("1 MB field", "ID", "x" * MB)
    one("1 MB field", "S1", "1" * MB, sub=2, field_="DP of sample S1")
    one("1 MB field", "POS", "1" * MB)
    for chrom in ("2 x", "*2", "2\x00", "=2"):
        one("malformed structure", "CHROM", chrom)
    records = [list(r) for r in VCF_RECORDS]
    corpus.vcf_case("trailing garbage", vcf_file([r if k != 1 else [*r, "0/1"] for k, r in enumerate(records)]),
                    first + 1, "(column 13)", "an extra sample column")
    corpus.vcf_case("malformed structure", vcf_file([r if k != 2 else r[:5] for k, r in enumerate(records)]),
                    first + 2, "QUAL", "missing columns")
    corpus.vcf_case("malformed structure", vcf_file(records[:1] + [[""]] + records[1:]), first + 1, "(record)",
                    "an empty line")
    corpus.vcf_case("repeated key", vcf_file([*records, [*records[0][:1], "150", *records[0][2:]]]), first + 3, "ID",
                    "a site id repeated")
    corpus.vcf_case("malformed structure", vcf_file([r if k != 0 else [*r[:8], "GQ:GT", *r[9:]]
                                                     for k, r in enumerate(records)]), first, "FORMAT", "GT not first")
    corpus.vcf_case("malformed structure", vcf_file([r if k != 0 else [*r[:8], "GT:DP:DP", *r[9:]]
                                                     for k, r in enumerate(records)]), first, "FORMAT", "a repeated key")
    header = list(VCF_HEADER)
    for h, line, note in (
        (header[1:], 1, "no ##fileformat line"),
        (header[:-1], first - 1, "no #CHROM line"),
        ([*header[:-1], header[-1].replace("\tFORMAT", "")], first - 1, "malformed #CHROM line"),
        ([*header[:-1], header[-1].replace("S2", "S1")], first - 1, "a repeated sample"),
        ([*header[:-1], header[-1].replace("S2", "S\x01")], first - 1, "a sample name with a control character"),
        ([*header[:-1], header[-1].replace("S2", " ")], first - 1, "a blank sample name"),
        ([*header[:-1], header[-1].replace("S2", "x" * 201)], first - 1, "a sample name too long"),
    ):
        corpus.vcf_case("malformed header", vcf_file(records, h), line, "(header)", note)
    corpus.vcf_case("bytes not UTF-8", vcf_file(records, [*header[:-1], header[-1].replace("S2", "S\udcff")]),
                    first - 1, "(header)", "a sample name that is not UTF-8")
    corpus.vcf_case("malformed structure", b"", 1, "(header)", "empty file")
    whole = vcf_file(records * 1 + [[r[0], str(1000 + k), *r[2:]] for k, r in enumerate(records * 400)])
    whole = whole.replace(b"\trs1\t", b"\t.\t")
    path = corpus.write("vcf", b"", ".vcf.gz")
    path.write_bytes(gzip.compress(whole)[: len(gzip.compress(whole)) * 2 // 3])
    corpus.cases.append(Case("malformed structure", "vcf", ("load", "--vcf", str(path)), str(path), None, "(record)",
                             note="a truncated gzip"))


def parameter_cases() -> list[Case]:
    """Bad `-p` values: every kind of damage for reads and writes; each must be a usage error naming it."""
    cases: list[Case] = []

    def add(category: str, query: str, name: str, value: Text, others: dict[str, str] | None = None, note: str = "") -> None:
        text = value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")
        argv = ["query", query, *(x for k, v in (others or {}).items() for x in ("-p", f"{k}={v}")), "-p", f"{name}={text}"]
        cases.append(Case(category, "parameter", tuple(argv), parameter=name, note=note))

    for v in BEYOND_64:
        add("integer beyond 64 bits", "patient_by_id", "patient_id", v)
        add("integer beyond 64 bits", "variants_min_depth", "min_depth", v)
        add("integer beyond 64 bits", "variants_in_region", "end", v, {"chromosome": "1", "start": "1"})
    for v in NON_ASCII_DIGITS:
        add("non-ASCII digits", "patients_older_than", "age", v)
        add("non-ASCII digits", "variants_min_quality", "min_quality", v)
    for v in NOT_INTEGER:
        add("not a number", "variants_in_region", "start", v, {"chromosome": "1", "end": "5"})
    for v in NOT_FINITE + NUMBER_OUT_OF_RANGE + NOT_NUMBER:
        add("non-finite or out-of-range number", "variants_min_quality", "min_quality", v)
    for v in BAD_DATES:
        add("bad date", "lab_history", "since", v, {"patient_id": "12345", "test_name": "HbA1c", "until": "2030-01-01"})
    for v in BAD_CHROMOSOMES:
        add("out of domain", "variants_by_chromosome", "chromosome", v)
    for v in BAD_CODES:
        add("out of domain", "patients_with_diagnosis", "code", v)
    for v in NUL_TEXT + CONTROL_TEXT + ["", "   ", "x" * 501]:
        add("bad text", "variant_by_id", "variant_id", v)
    for v in (b"\xff", b"\xed\xa0\x80", b"a\x80b"):
        add("bytes not UTF-8", "variant_by_id", "variant_id", v)
        add("bytes not UTF-8", "patient_by_id", "patient_id", v)
        add("bytes not UTF-8", "lab_history", "test_name", v, {"patient_id": "1", "since": "2020-01-01", "until": "2021-01-01"})
    good_variant = {"variant_id": "n1", "chromosome": "4", "position": 5, "reference_allele": "A",
                    "alternate_allele": "G", "genotype": "AG", "quality": 30, "depth": 40}
    good_patient = {"patient_id": 99001, "name": "New", "age": 40, "sex": "F",
                    "diagnoses": [{"diagnosis_id": 99001, "code": "I10", "diagnosed_on": "2024-01-02"}]}

    def variants(**change: Any) -> str:
        return json.dumps([good_variant, {**good_variant, "variant_id": "n2", **change}])

    def patient(**change: Any) -> str:
        return json.dumps({**good_patient, **change})

    for key, values in (("position", [0, -1, 2**63, "١٢", 1.5, "5", None]), ("depth", [-1, 2**64, True, "40"]),
                        ("quality", [-1, 1e16, "NaN", "1_0", "30"]), ("chromosome", ["23", 4.0, 4]),
                        ("reference_allele", ["G", "Z", ""]), ("genotype", ["CC", "AGX", ""]),
                        ("variant_id", ["n1", "", "a\u0000", "\udc80", 5]), ("patient_id", [2**63, "x"])):
        for v in values:
            add("write parameter", "add_variants", "variants", variants(**{key: v}), note=f"{key}={v!r}")
    for key, values in (("age", [151, -2, 2**63, "old"]), ("sex", ["X", ""]), ("name", ["", "a\x00", "x" * 201]),
                        ("patient_id", [2**63, None]), ("diagnoses", [{}, [1], [{"diagnosis_id": 1, "code": "E11.99",
                                                                                    "diagnosed_on": "2024-01-01"}]])):
        for v in values:
            add("write parameter", "add_patient", "patient", patient(**{key: v}), note=f"{key}={v!r}")
    for text, note in (
        ('{"patient_id": 1, "patient_id": 2, "name": "A", "age": 3, "sex": "F"}', "repeated key"),
        (patient() + " x", "trailing garbage"), ("[" * 100_000, "deep nesting"), ("[" * 20 + "]" * 20, "nested 20"),
        ('{"patient_id": NaN, "name": "A", "age": 3, "sex": "F"}', "NaN"), (patient()[:-3], "truncated"),
        (patient(extra=1), "unknown key"), (patient(diagnoses=[{"diagnosis_id": 1, "code": "I10", "diagnosed_on":
                                                               "20240101"}]), "bad date"),
        (patient(diagnoses=[{"diagnosis_id": 1, "code": "I10", "diagnosed_on": "2024-01-01", "patient_id": 5}]),
         "another patient's diagnosis"),
        (patient(diagnoses=[{"diagnosis_id": 1, "code": "I10", "diagnosed_on": "2024-01-01"}] * 2), "repeated id"),
    ):
        add("write parameter", "add_patient", "patient", text, note=note)
    add("write parameter", "add_variants", "variants", json.dumps([good_variant, good_variant]), note="repeated id")
    add("write parameter", "add_variants", "variants", json.dumps([{**good_variant, "extra": 1}]), note="unknown key")
    add("write parameter", "add_variants", "variants", "[" + json.dumps(good_variant) + "]]", note="trailing garbage")
    add("write parameter", "add_variants", "variants", json.dumps(good_variant), note="an object, not an array")
    add("write parameter", "add_diagnosis", "diagnosed_on", "2024-02-30",
        {"diagnosis_id": "99002", "patient_id": "12345", "code": "I10"})
    add("write parameter", "add_diagnosis", "diagnosis_id", "9" * 30,
        {"patient_id": "12345", "code": "I10", "diagnosed_on": "2024-01-01"})
    return cases


def build(directory: Path) -> list[Case]:
    """Write the corpus into `directory`; its cases (files and parameters), in order."""
    corpus = Corpus(directory)
    _genomics(corpus)
    _samples(corpus)
    for kind in ("patients", "diagnoses", "lab_results"):
        _json_kind(corpus, kind)
    _vcf(corpus)
    return corpus.cases + parameter_cases()


# ---------------------------------------------------------------- running it

@dataclass
class Outcome:
    code: int | None
    stderr: str
    traceback: str | None = None


@functools.cache
def _command() -> Any:
    """The CLI's click command, built once (typer builds it anew on every call: 20 ms)."""
    import typer.main

    from bench import cli

    return typer.main.get_command(cli.app)


def run_cli(argv: list[str]) -> Outcome:
    """`mmbench ARGV` in this process, through the CLI's main() (its handling of every error),
    with the command built once: its exit status and what it wrote to stderr."""
    from bench import cli

    err = io.StringIO()
    code: int | None = 0
    trace = None
    built = _command()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
            mock.patch.object(cli, "app", lambda **kw: built.main(**kw)):
        try:
            cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - exactly what must never happen
            trace = traceback.format_exc()
            code = None
    return Outcome(code, err.getvalue(), trace)


ONE_LINE = re.compile(r"mmbench: (?P<file>.+?):(?P<line>[0-9]+): field (?P<field>.+?): (?P<problem>.+)")


def judge(case: Case, outcome: Outcome) -> str | None:
    """What is wrong with the outcome of `case` (None: a clean one-line refusal pointing at the right place)."""
    if outcome.traceback is not None or "Traceback" in outcome.stderr:
        return "traceback"
    lines = outcome.stderr.strip("\n").split("\n")
    if len(lines) != 1 or not lines[0].strip():
        return "not one line"
    text = lines[0]
    if case.kind == "parameter":
        if outcome.code != 2:
            return f"exit status {outcome.code}, not 2"
        if not re.match(rf"mmbench: query \S+: parameter {re.escape(case.parameter or '')} \(", text):
            return "does not name the parameter"
        return None
    if outcome.code != 1:
        return f"exit status {outcome.code}, not 1"
    m = ONE_LINE.fullmatch(text)
    if not m or m["file"] != case.file:
        return "no file, line and field"
    if case.line is not None and int(m["line"]) != case.line:
        return f"line {m['line']}, not {case.line}"
    if case.field is not None and m["field"] != case.field:
        return f"field {m['field']!r}, not {case.field!r}"
    return None


@dataclass
class Tally:
    cases: int = 0
    tracebacks: int = 0
    unlocated: int = 0  # errors that are not one line naming file, line and field (or the parameter)
    data_lost: int = 0
    examples: list[str] = field(default_factory=list)

    def ok(self) -> bool:
        return self.tracebacks == self.unlocated == self.data_lost == 0


def seed_answers_of(backend: str) -> dict[str, Any]:
    from backends import open_backend
    from tests.helpers import seed_answers

    with contextlib.closing(open_backend(backend)) as b:
        return seed_answers(b)


def check(backend: str, cases: list[Case], *, answers: Callable[[str], dict[str, Any]] = seed_answers_of,
          every: int = 1) -> dict[tuple[str, str], Tally]:
    """Load the seed into `backend`, try every case, tally per (kind, category). The seed's answers
    are compared after every `every`-th case (and after the last)."""
    seed = run_cli(["load", "--backend", backend, "--dataset", "seed"])
    if seed.code != 0:
        raise RuntimeError(f"loading the seed into {backend} failed: {seed.stderr.strip() or seed.traceback}")
    expected = answers(backend)
    tallies: dict[tuple[str, str], Tally] = defaultdict(Tally)
    pending: list[Tally] = []
    for n, case in enumerate(cases, start=1):
        outcome = run_cli(case.command(backend))
        tally = tallies[(case.kind, case.category)]
        tally.cases += 1
        problem = judge(case, outcome)
        if problem == "traceback":
            tally.tracebacks += 1
        elif problem is not None:
            tally.unlocated += 1
        if problem is not None and len(tally.examples) < 3:
            tally.examples.append(f"{problem}: {case.note or case.argv[-1][:60]!r} -> "
                                  f"{(outcome.traceback or outcome.stderr).strip()[-300:]}")
        pending.append(tally)
        if n % every == 0 or n == len(cases):
            if answers(backend) != expected:
                pending[-1].data_lost += 1
                pending[-1].examples.append(f"data changed after {case.note or case.argv!r}")
                run_cli(["load", "--backend", backend, "--dataset", "seed"])
            pending = []
    return dict(tallies)


def table(tallies: dict[tuple[str, str], Tally]) -> str:
    rows = [("kind", "category", "cases", "tracebacks", "no file/line/field", "data lost")]
    total = Tally()
    for (kind, category), t in sorted(tallies.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1])):
        rows.append((kind, category, str(t.cases), str(t.tracebacks), str(t.unlocated), str(t.data_lost)))
        total.cases += t.cases
        total.tracebacks += t.tracebacks
        total.unlocated += t.unlocated
        total.data_lost += t.data_lost
    rows.append(("all", "", str(total.cases), str(total.tracebacks), str(total.unlocated), str(total.data_lost)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                     for r in rows)


def by_category(tallies: dict[tuple[str, str], Tally]) -> dict[str, Tally]:
    out: dict[str, Tally] = defaultdict(Tally)
    for (_, category), t in tallies.items():
        o = out[category]
        o.cases += t.cases
        o.tracebacks += t.tracebacks
        o.unlocated += t.unlocated
        o.data_lost += t.data_lost
    return dict(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="sqlite")
    parser.add_argument("--keep", type=Path, help="write the corpus here (default: a temporary directory)")
    parser.add_argument("--every", type=int, default=1, help="compare the seed's answers after every N-th case")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        directory = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mmbench-corpus-")))
        cases = build(directory)
        started = time.perf_counter()
        tallies = check(args.backend, cases, every=args.every)
        print(table(tallies))
        print(f"{len(cases)} cases against {args.backend} in {time.perf_counter() - started:.1f} s "
              f"(load average {os.getloadavg()[0]:.1f})")
        for key, t in tallies.items():
            for example in t.examples:
                print(f"{key}: {example}", file=sys.stderr)
        return 0 if all(t.ok() for t in tallies.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())

