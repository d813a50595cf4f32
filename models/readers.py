"""Readers for the seed's file formats; every error names file, line and field.

- Genomics CSV, the lecture's header `ID,Chromosome,Position,Reference_Allele,
  Alternate_Allele,Genotype,Quality,Depth`, with an optional `Patient_ID` column.
- Samples CSV `ID,Patient_ID`: which patient each call of a genomics CSV came from.
- Hospital JSON files: an array of objects (patients, diagnoses, lab results).
  A diagnosis code must be a known ICD-10-CM code (`models.icd10`), not just look like one.

Readers stream: they yield entities one by one and keep only what validation needs.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from models import icd10
from models.entities import CHROMOSOMES, Diagnosis, LabResult, Patient, Variant
from models.errors import DataError

GENOMICS_COLUMNS = (
    "ID", "Chromosome", "Position", "Reference_Allele", "Alternate_Allele",
    "Genotype", "Quality", "Depth",
)
ALLELE = re.compile(r"^[ACGTN]+$")
ICD10CM = icd10.CODE_SHAPE
SEXES = ("F", "M", "U")

T = TypeVar("T")


class Field:
    """Converters that raise ValueError with a short reason; the caller adds file/line/field."""

    @staticmethod
    def integer(text: Any) -> int:
        if isinstance(text, bool):
            raise ValueError(f"{text!r} is not an integer")
        if isinstance(text, int):
            return text
        if isinstance(text, float) and text.is_integer():
            return int(text)
        try:
            return int(str(text).strip())
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None

    @staticmethod
    def number(text: Any) -> float:
        if isinstance(text, bool):
            raise ValueError(f"{text!r} is not a number")
        try:
            value = float(str(text).strip()) if not isinstance(text, (int, float)) else float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{text!r} is not a finite number")
        return value

    @staticmethod
    def text(value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{value!r} is not a non-empty string")
        return value.strip()

    @staticmethod
    def date(value: Any) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None

    @staticmethod
    def chromosome(value: Any) -> str:
        name = str(value).strip()
        if name.lower().startswith("chr"):
            name = name[3:]
        name = {"M": "MT", "x": "X", "y": "Y"}.get(name, name)
        if name not in CHROMOSOMES:
            raise ValueError(f"{value!r} is not a chromosome (1-22, X, Y, MT)")
        return name

    @staticmethod
    def allele(value: Any) -> str:
        text = str(value).strip().upper()
        if not ALLELE.match(text):
            raise ValueError(f"{value!r} is not an allele (letters A, C, G, T, N)")
        return text

    @staticmethod
    def code(value: Any) -> str:
        text = str(value).strip()
        if not ICD10CM.match(text):
            raise ValueError(f"{value!r} is not an ICD-10-CM code (like I10 or E11.9)")
        if not icd10.is_known(text):
            raise ValueError(f"{value!r} is not a known ICD-10-CM code (not in the {icd10.version()} code table)")
        return text


def convert(file: str, line: int | None, field: str, func: Callable[[Any], T], value: Any) -> T:
    """`func(value)`, turning its ValueError into a DataError naming file, line and field."""
    try:
        return func(value)
    except ValueError as exc:
        raise DataError(file, line, field, str(exc)) from None


def _open_text(path: Path) -> Any:
    try:
        return path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(str(path), None, None, exc.strerror or str(exc)) from None


def read_samples_csv(path: str | Path) -> dict[str, int]:
    """`ID -> Patient_ID` from a samples CSV."""
    path = Path(path)
    mapping: dict[str, int] = {}
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        _require_columns(path, reader.fieldnames, ("ID", "Patient_ID"))
        for row in reader:
            line = reader.line_num
            vid = convert(str(path), line, "ID", Field.text, row["ID"])
            mapping[vid] = convert(str(path), line, "Patient_ID", Field.integer, row["Patient_ID"])
    return mapping


def read_genomics_csv(path: str | Path, samples: Mapping[str, int] | None = None) -> Iterator[Variant]:
    """Variants from a genomics CSV; `Patient_ID` from the optional column, else `samples`."""
    path = Path(path)
    name = str(path)
    seen: set[str] = set()
    with _open_text(path) as fh:
        reader = csv.DictReader(fh)
        _require_columns(path, reader.fieldnames, GENOMICS_COLUMNS)
        has_patient = "Patient_ID" in (reader.fieldnames or ())
        for row in reader:
            line = reader.line_num
            if None in row or any(v is None for v in row.values()):
                raise DataError(name, line, None, f"expected {len(reader.fieldnames or ())} columns")
            vid = convert(name, line, "ID", Field.text, row["ID"])
            if vid in seen:
                raise DataError(name, line, "ID", f"duplicate variant ID {vid!r}")
            seen.add(vid)
            ref = convert(name, line, "Reference_Allele", Field.allele, row["Reference_Allele"])
            alt = convert(name, line, "Alternate_Allele", Field.allele, row["Alternate_Allele"])
            if ref == alt:
                raise DataError(name, line, "Alternate_Allele", f"equals the reference allele {ref!r}")
            patient_id: int | None = None
            if has_patient and (row["Patient_ID"] or "").strip():
                patient_id = convert(name, line, "Patient_ID", Field.integer, row["Patient_ID"])
            elif samples is not None:
                patient_id = samples.get(vid)
            position = convert(name, line, "Position", Field.integer, row["Position"])
            if position < 1:
                raise DataError(name, line, "Position", f"{position} is not a positive position")
            depth = convert(name, line, "Depth", Field.integer, row["Depth"])
            quality = convert(name, line, "Quality", Field.number, row["Quality"])
            if depth < 0 or quality < 0:
                field = "Depth" if depth < 0 else "Quality"
                raise DataError(name, line, field, "must not be negative")
            yield Variant(
                variant_id=vid,
                chromosome=convert(name, line, "Chromosome", Field.chromosome, row["Chromosome"]),
                position=position,
                reference_allele=ref,
                alternate_allele=alt,
                genotype=convert(name, line, "Genotype", Field.allele, row["Genotype"]),
                quality=quality,
                depth=depth,
                patient_id=patient_id,
            )


def _require_columns(path: Path, header: Any, required: tuple[str, ...]) -> None:
    if not header:
        raise DataError(str(path), 1, None, "empty file: expected a header line")
    missing = [c for c in required if c not in header]
    if missing:
        raise DataError(str(path), 1, missing[0], f"missing column (header must have {', '.join(required)})")


def iter_json_array(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each object of a JSON array file, with the line it starts on."""
    path = Path(path)
    name = str(path)
    with _open_text(path) as fh:
        text = fh.read()
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise DataError(name, text.count("\n", 0, pos) + 1, None, "expected a JSON array of objects")
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    line, counted = 1, 0  # lines are counted incrementally: one pass over the text in all
    while True:
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DataError(name, exc.lineno, None, f"invalid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise DataError(name, line, None, "expected an object")
        yield line, obj
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        elif pos < len(text) and text[pos] == "]":
            return
        else:
            raise DataError(name, text.count("\n", 0, pos) + 1, None, "invalid JSON: expected ',' or ']'")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _field(name: str, line: int, obj: dict[str, Any], key: str, func: Callable[[Any], T]) -> T:
    if key not in obj:
        raise DataError(name, line, key, "missing")
    return convert(name, line, key, func, obj[key])


def read_patients_json(path: str | Path) -> Iterator[Patient]:
    name = str(path)
    for line, o in iter_json_array(path):
        age = _field(name, line, o, "age", Field.integer)
        if not 0 <= age <= 130:
            raise DataError(name, line, "age", f"{age} is not a plausible age")
        sex = _field(name, line, o, "sex", Field.text)
        if sex not in SEXES:
            raise DataError(name, line, "sex", f"{sex!r} is not one of {', '.join(SEXES)}")
        yield Patient(
            patient_id=_field(name, line, o, "patient_id", Field.integer),
            name=_field(name, line, o, "name", Field.text),
            age=age,
            sex=sex,
        )


def read_diagnoses_json(path: str | Path) -> Iterator[Diagnosis]:
    name = str(path)
    for line, o in iter_json_array(path):
        yield Diagnosis(
            diagnosis_id=_field(name, line, o, "diagnosis_id", Field.integer),
            patient_id=_field(name, line, o, "patient_id", Field.integer),
            code=_field(name, line, o, "code", Field.code),
            diagnosed_on=_field(name, line, o, "diagnosed_on", Field.date),
        )


def read_lab_results_json(path: str | Path) -> Iterator[LabResult]:
    name = str(path)
    for line, o in iter_json_array(path):
        yield LabResult(
            result_id=_field(name, line, o, "result_id", Field.integer),
            patient_id=_field(name, line, o, "patient_id", Field.integer),
            test_name=_field(name, line, o, "test_name", Field.text),
            value=_field(name, line, o, "value", Field.number),
            unit=_field(name, line, o, "unit", Field.text),
            taken_on=_field(name, line, o, "taken_on", Field.date),
        )
