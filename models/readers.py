"""Readers for the seed's file formats; every rejection is one line naming file, line and field.

- Genomics CSV, the lecture's header `ID,Chromosome,Position,Reference_Allele,
  Alternate_Allele,Genotype,Quality,Depth`, with an optional `Patient_ID` column.
- Samples CSV `ID,Patient_ID`: which patient each call of a genomics CSV came from.
- Hospital JSON files: an array of objects (patients, diagnoses, lab results).

Every value goes through the rules of `models.validate` (the same rules as the query and write
parameters). What the readers add, per file:
- text is UTF-8 (a byte-order mark at the start is accepted); bytes that are not UTF-8 are an
  error at their line, naming the column or key they are in;
- CSV: the header names each column once, only known columns, and every row has as many fields
  as the header; quotes must be well-formed (a strict CSV dialect) and a field longer than
  the CSV reader's limit (131,072 characters) is an error naming its column; a repeated ID in a
  samples file is an error;
- JSON: one array of objects and nothing after it; an object has only its entity's fields, no
  repeated key, nesting at most `validate.JSON_MAX_DEPTH` deep;
- line numbers are lines of the file: the line a CSV record starts on, the line a JSON object
  starts on (a JSON syntax error: the line where the text breaks).
The field of an error is the column or key; for the file's structure it is `(header)`,
`(column N)` (a column with no name), `(document)` (JSON outside the array's objects) or
`(object)` (a JSON syntax error inside an object before its first key).

Readers stream: they yield entities one by one and keep only what validation needs.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from models import icd10, validate
from models.entities import Diagnosis, LabResult, Patient, Variant
from models.errors import DataError

GENOMICS_COLUMNS = (
    "ID", "Chromosome", "Position", "Reference_Allele", "Alternate_Allele",
    "Genotype", "Quality", "Depth",
)
GENOMICS_FIELDS: dict[str, str] = {
    "ID": "variant_id", "Chromosome": "chromosome", "Position": "position",
    "Reference_Allele": "reference_allele", "Alternate_Allele": "alternate_allele",
    "Genotype": "genotype", "Quality": "quality", "Depth": "depth", "Patient_ID": "patient_id",
}
"""Genomics CSV column -> Variant field."""
SAMPLES_COLUMNS = ("ID", "Patient_ID")
ICD10CM = icd10.CODE_SHAPE
SEXES = validate.SEXES
UTF8_BOM = b"\xef\xbb\xbf"
MAX_LINE_BYTES = 16 << 20  # a physical line longer than this is refused before it is held whole

T = TypeVar("T")


class Field:
    """The rules of `models.validate` by their old names (raise ValueError with a short reason)."""

    integer = staticmethod(validate.integer)
    number = staticmethod(validate.number)
    date = staticmethod(validate.date)
    chromosome = staticmethod(validate.chromosome)
    allele = staticmethod(validate.allele)
    code = staticmethod(validate.code)

    @staticmethod
    def text(value: Any) -> str:
        return validate.text(value, validate.MAX_CHARS["name"])


def convert(file: str, line: int | None, field: str, func: Callable[[Any], T], value: Any) -> T:
    """`func(value)`, turning its ValueError into a DataError naming file, line and field."""
    try:
        return func(value)
    except ValueError as exc:
        raise DataError(file, line, field, str(exc)) from None


def _label(name: Any, index: int) -> str:
    """A column or key as the field of an error message."""
    if type(name) is str and name and name.isprintable() and len(name) <= 60:
        return name
    return f"(column {index + 1})" if not name else validate.show(name)


def _open_binary(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise DataError(str(path), None, None, exc.strerror or str(exc)) from None


# ---------------------------------------------------------------- CSV

class _Lines:
    """The physical lines of a CSV file, decoded as strict UTF-8 (BOM dropped), for csv.reader;
    keeps the lines of the record being read, for locating an error inside it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.number = 0
        self.record: list[str] = []
        self.bad: bytes | None = None  # the raw line that did not decode

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.fh.readline(MAX_LINE_BYTES)
        if not raw:
            raise StopIteration
        self.number += 1
        if self.number == 1 and raw.startswith(UTF8_BOM):
            raw = raw[len(UTF8_BOM):]
        if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
            self.bad = raw
            raise _LineTooLong
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad = raw
            raise
        self.record.append(line)
        return line


class _LineTooLong(Exception):
    pass


def _csv_field_at(text: str, stop: int | None = None) -> int:
    """Index of the field in which a strict csv parse of one record `text` stops: at a quote
    error, a field beyond the reader's limit, a line break inside an unquoted field, or at
    character `stop`. (csv.Error does not say which field; this walks the record again.)"""
    limit = csv.field_size_limit()
    index, length, state = 0, 0, "start"
    for i, ch in enumerate(text):
        if stop is not None and i >= stop:
            return index
        if state == "start":
            length = 0
            if ch == '"':
                state = "quoted"
                continue
            state = "field"
        if state == "quoted":
            if ch == '"':
                state = "quote"
                continue
        elif state == "quote":
            if ch == '"':
                state = "quoted"
            elif ch == ",":
                index, state = index + 1, "start"
                continue
            elif ch in "\r\n":
                state = "end"
                continue
            else:
                return index
        elif state == "end":
            if ch not in "\r\n":
                return index
            continue
        elif ch == ",":
            index, state = index + 1, "start"
            continue
        elif ch in "\r\n":
            state = "end"
            continue
        length += 1
        if length > limit:
            return index
    return index


@dataclass
class _Csv:
    """A CSV file whose header is checked: known columns, each once, the required ones present."""

    name: str
    header_line: int
    columns: list[str]

    def label(self, index: int) -> str:
        return _label(self.columns[index], index) if index < len(self.columns) else f"(column {index + 1})"


def _csv_records(path: Path, required: tuple[str, ...], optional: tuple[str, ...] = ()
                 ) -> Iterator[tuple[int, dict[str, str]]]:
    """(line the record starts on, column -> text) for each record; blank lines are skipped."""
    name = str(path)
    table: _Csv | None = None
    with _open_binary(path) as fh:
        lines = _Lines(fh)
        reader = csv.reader(lines, strict=True)
        while True:
            start = lines.number + 1
            lines.record = []
            try:
                row = next(reader)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                raise _undecodable(name, lines, table, exc) from None
            except _LineTooLong:
                raise _too_long(name, lines, table) from None
            except csv.Error as exc:
                field = _csv_field_at("".join(lines.record))
                label = table.label(field) if table else "(header)"
                raise DataError(name, start, label, f"malformed CSV: {exc}") from None
            if not row:
                continue
            if table is None:
                table = _check_header(name, start, row, required, optional)
                continue
            if len(row) != len(table.columns):
                n = len(table.columns)
                if len(row) < n:
                    raise DataError(name, start, table.label(len(row)),
                                    f"missing: the row has {len(row)} of the header's {n} columns")
                raise DataError(name, start, f"(column {n + 1})", f"unexpected value: the header has {n} columns")
            yield start, dict(zip(table.columns, row, strict=True))
    if table is None:
        raise DataError(name, 1, "(header)", f"empty file: expected the header line {','.join(required)}")


def _check_header(name: str, line: int, row: list[str], required: tuple[str, ...], optional: tuple[str, ...]) -> _Csv:
    known = (*required, *optional)
    first: dict[str, int] = {}
    for i, column in enumerate(row):
        if column in first:
            raise DataError(name, line, _label(column, i), f"column repeated (also column {first[column] + 1})")
        first[column] = i
        if column not in known:
            raise DataError(name, line, _label(column, i), f"unknown column; the header has {', '.join(known)}")
    for column in required:
        if column not in first:
            raise DataError(name, line, column, f"missing column (the header must have {','.join(required)})")
    return _Csv(name, line, row)


def _undecodable(name: str, lines: _Lines, table: _Csv | None, exc: UnicodeDecodeError) -> DataError:
    raw = lines.bad or b""
    text = "".join(lines.record) + raw.decode("utf-8", "surrogateescape")
    at = len("".join(lines.record)) + len(raw[: exc.start].decode("utf-8", "surrogateescape"))
    field = table.label(_csv_field_at(text, at)) if table else "(header)"
    return DataError(name, lines.number, field, f"bytes that are not UTF-8 ({raw[exc.start:exc.start + 4]!r}...)")


def _too_long(name: str, lines: _Lines, table: _Csv | None) -> DataError:
    text = "".join(lines.record) + (lines.bad or b"").decode("utf-8", "replace")
    field = table.label(_csv_field_at(text)) if table else "(header)"
    return DataError(name, lines.number, field, f"line longer than {MAX_LINE_BYTES >> 20} MiB")


def _entity(name: str, line: int, make: Callable[[Mapping[str, Any]], T], values: Mapping[str, Any],
            label: Callable[[str], str]) -> T:
    try:
        return make(values)
    except validate.FieldError as exc:
        raise DataError(name, line, label(exc.field), exc.reason) from None


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value was read: file, line, field (errors about it, such as a dangling reference, name it)."""

    file: str
    line: int
    field: str


def read_samples(path: str | Path) -> dict[str, tuple[int, Source]]:
    """`ID -> (Patient_ID, where it was read)` from a samples CSV; an ID given twice is an error."""
    path = Path(path)
    name = str(path)
    mapping: dict[str, tuple[int, Source]] = {}
    for line, row in _csv_records(path, SAMPLES_COLUMNS):
        vid = convert(name, line, "ID", validate.variant_id, row["ID"])
        if vid in mapping:
            raise DataError(name, line, "ID", f"{vid!r} repeated (first on line {mapping[vid][1].line})")
        pid = convert(name, line, "Patient_ID", validate.integer, row["Patient_ID"])
        mapping[vid] = (pid, Source(name, line, "Patient_ID"))
    return mapping


def read_samples_csv(path: str | Path) -> dict[str, int]:
    """`ID -> Patient_ID` from a samples CSV."""
    return {vid: pid for vid, (pid, _) in read_samples(path).items()}


_GENOMICS_LABELS = {field: column for column, field in GENOMICS_FIELDS.items()}


def iter_genomics_csv(path: str | Path, samples: Mapping[str, tuple[int, Source]] | None = None
                      ) -> Iterator[tuple[int, Variant, Source | None]]:
    """(line, Variant, where its patient_id was read) for each record of a genomics CSV.

    `patient_id` comes from the optional `Patient_ID` column (empty: none), else from `samples`;
    both given and different is an error."""
    path = Path(path)
    name = str(path)
    seen: dict[str, int] = {}
    label = _GENOMICS_LABELS.__getitem__
    for line, row in _csv_records(path, GENOMICS_COLUMNS, ("Patient_ID",)):
        values: dict[str, Any] = {GENOMICS_FIELDS[c]: v for c, v in row.items()}
        given = values.get("patient_id")
        if given is not None and not given.strip(" \t"):
            values["patient_id"] = None
        variant = _entity(name, line, validate.make_variant, values, label)
        if variant.variant_id in seen:
            raise DataError(name, line, "ID", f"{variant.variant_id!r} repeated (first on line {seen[variant.variant_id]})")
        seen[variant.variant_id] = line
        source: Source | None = Source(name, line, "Patient_ID") if variant.patient_id is not None else None
        sample = samples.get(variant.variant_id) if samples is not None else None
        if sample is not None:
            if variant.patient_id is None:
                variant = _with_patient(variant, sample[0])
                source = sample[1]
            elif variant.patient_id != sample[0]:
                raise DataError(name, line, "Patient_ID", f"{variant.patient_id} disagrees with "
                                f"{sample[1].file}:{sample[1].line}, which gives {sample[0]}")
        yield line, variant, source


def _with_patient(v: Variant, patient_id: int) -> Variant:
    return Variant(v.variant_id, v.chromosome, v.position, v.reference_allele, v.alternate_allele,
                   v.genotype, v.quality, v.depth, patient_id)


def read_genomics_csv(path: str | Path, samples: Mapping[str, int] | None = None) -> Iterator[Variant]:
    """Variants from a genomics CSV; `Patient_ID` from the optional column, else `samples` (ID -> Patient_ID)."""
    where = {vid: (pid, Source("samples", 0, "Patient_ID")) for vid, pid in samples.items()} if samples else None
    for _, variant, _ in iter_genomics_csv(path, where):
        yield variant


# ---------------------------------------------------------------- JSON

def _read_text(path: Path) -> str:
    """The whole file as text: strict UTF-8, a leading BOM dropped; DataError naming line and key otherwise."""
    name = str(path)
    with _open_binary(path) as fh:
        try:
            data = fh.read()
        except OSError as exc:
            raise DataError(name, None, None, exc.strerror or str(exc)) from None
    data = data.removeprefix(UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        text = data.decode("utf-8", "surrogateescape")
        at = len(data[: exc.start].decode("utf-8"))
        path_, _ = validate.json_path(text, 0, at)
        field = _json_field(path_)
        raise DataError(name, line, field, f"bytes that are not UTF-8 ({data[exc.start:exc.start + 4]!r}...)") from None


def _json_field(keys: list[str | int], fallback: str = "(document)") -> str:
    """The field of an error inside an object: the object's own key the problem lies under."""
    return next((k for k in keys if isinstance(k, str)), fallback)


def iter_json_array(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each object of a JSON array file, with the line it starts on."""
    path = Path(path)
    name = str(path)
    text = _read_text(path)
    line_of = _LineCounter(text)
    pos = _skip_ws(text, 0)
    if pos >= len(text):
        raise DataError(name, line_of(pos), "(document)", "empty file: expected a JSON array of objects")
    if text[pos] != "[":
        raise DataError(name, line_of(pos), "(document)", "expected a JSON array of objects")
    pos = _skip_ws(text, pos + 1)
    item = 0
    if pos < len(text) and text[pos] == "]":
        pos += 1
    else:
        while True:
            line = line_of(pos)
            item += 1
            obj, pos = _json_object(name, text, pos, line, item)
            yield line, obj
            pos = _skip_ws(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
            elif pos < len(text) and text[pos] == "]":
                pos += 1
                break
            else:
                raise DataError(name, line_of(pos), "(document)",
                                f"invalid JSON: expected ',' or ']' after the object that starts on line {line}")
    pos = _skip_ws(text, pos)
    if pos < len(text):
        raise DataError(name, line_of(pos), "(document)", "unexpected text after the array's closing ]")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


class _LineCounter:
    """Line numbers of increasing positions in a text, counted incrementally (one pass in all)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def __call__(self, pos: int) -> int:
        if pos < self.pos:
            return self.text.count("\n", 0, pos) + 1
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _json_object(name: str, text: str, start: int, line: int, item: int) -> tuple[dict[str, Any], int]:
    """The object starting at `start` (on `line`) and where it ends, by the rules of validate.DECODER."""
    top = validate.JSON_MAX_DEPTH - 1  # the array holding the object is one level
    try:
        obj, end = validate.DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        keys, _ = validate.json_path(text, start, exc.pos)
        raise DataError(name, exc.lineno, _json_field(keys, "(object)" if text[start:start + 1] == "{" else "(document)"),
                        f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        obj, end = None, start
    except validate.RepeatedKey as exc:
        raise DataError(name, line, _label(exc.key, 0), "key repeated in the object") from None
    if obj is None or isinstance(obj, dict) and any(type(v) in (dict, list) for v in obj.values()) \
            and validate.nesting(obj) > top:
        keys, at = validate.json_path(text, start, len(text), depth_limit=top)
        raise DataError(name, text.count("\n", 0, at) + 1, _json_field(keys, "(object)"),
                        f"nested deeper than {validate.JSON_MAX_DEPTH} levels")
    if not isinstance(obj, dict):
        raise DataError(name, line, "(document)", f"item {item} of the array is {validate.show(obj)}, not an object")
    return obj, end


def iter_entities_json(path: str | Path, kind: str) -> Iterator[tuple[int, Any]]:
    """(line, entity) for each object of a JSON array file of entities of `kind` (patients,
    diagnoses, lab_results): only the entity's fields, each by its rule."""
    name = str(path)
    make = validate.MAKERS[kind]
    for line, obj in iter_json_array(path):
        try:
            validate.check_keys(kind, obj)
            validate.check_json_types(kind, obj)
            entity = make(obj)
        except validate.FieldError as exc:
            raise DataError(name, line, exc.field, exc.reason) from None
        yield line, entity


def read_patients_json(path: str | Path) -> Iterator[Patient]:
    return (p for _, p in iter_entities_json(path, "patients"))


def read_diagnoses_json(path: str | Path) -> Iterator[Diagnosis]:
    return (d for _, d in iter_entities_json(path, "diagnoses"))


def read_lab_results_json(path: str | Path) -> Iterator[LabResult]:
    return (r for _, r in iter_entities_json(path, "lab_results"))
