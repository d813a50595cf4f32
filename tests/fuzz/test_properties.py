"""Property-based tests (hypothesis) of every reader and of parameter parsing.

- Arbitrary bytes, and CSV / JSON / VCF mutations of good files, never raise anything but a
  DataError, and a DataError is one line naming the file, a line and a field.
- Both VCF readers (vcfpy, cyvcf2) accept and refuse the same inputs, with the same entities or
  the same error.
- Every accepted input round-trips through a backend (SQLite, a temporary file) to the same entities.
- `QuerySpec.parse_params` of every catalog query, given arbitrary text or JSON-like values,
  returns or raises UsageError (one line), and the write parameters it accepts round-trip
  through the backend.

Run time is kept modest (a few hundred examples per property, no deadline): the whole fuzz
folder runs in under two minutes on a busy two-core machine. `HYPOTHESIS_PROFILE=deep` asks for more.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backends import open_backend
from backends.base import Backend
from models.catalog import CATALOG, Q
from models.dataset import MemoryDataset
from models.errors import DataError, UsageError
from models.files import FileDataset
from models.readers import iter_entities_json, read_samples
from models.seed import SEED_DIR, seed_dataset
from models.vcf import READERS, VcfDataset
from tests.fuzz import corpus

settings.register_profile("default", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])
settings.register_profile("deep", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "2000")), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                 HealthCheck.filter_too_much])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SEED = {name: (SEED_DIR / name).read_bytes() for name in
        ("genomics.csv", "samples.csv", "patients.json", "diagnoses.json", "lab_results.json")}
GOOD_VCF = corpus.vcf_file(corpus.VCF_RECORDS)
FILE_OF = {"genomics": "genomics.csv", "samples": "samples.csv", "patients": "patients.json",
           "diagnoses": "diagnoses.json", "lab_results": "lab_results.json"}

# ---------------------------------------------------------------- strategies

NASTY = ["", " ", "\x00", "\ud800", "\udcff", "١٢", "１２", "1_0", "NaN", "Infinity", "-0", "1e400", "1e-400",
         "9" * 25, "-9223372036854775809", "9223372036854775807", "2024-02-30", "20240101", "2024-01-01",
         "chr1", "M", "X", "[/]", ",", '"', "\n", "\r", "\t", "{", "[", "]", "}", ":", "\ufeff", "\x85",
         "é", "😀", "A", "AG", "N", "I10", "E11.9", "0", "1", "-1", "150", "151", "F", "U", "0/1", ".", "1.5",
         "x" * 600]
any_text = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=12)
token = st.one_of(st.sampled_from(NASTY), any_text, st.integers().map(str), st.floats().map(repr))


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """A few byte-level edits: insert, delete, overwrite, repeat or drop a line, truncate."""
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["insert", "delete", "overwrite", "repeat line", "drop line", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "insert":
            data = data[:at] + draw(st.one_of(st.binary(max_size=6), token.map(encode))) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)):]
        elif op == "overwrite":
            blob = draw(st.binary(min_size=1, max_size=4))
            data = data[:at] + blob + data[at + len(blob):]
        elif op in ("repeat line", "drop line"):
            lines = data.split(b"\n")
            i = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[i:i + 1] = [lines[i], lines[i]] if op == "repeat line" else []
            data = b"\n".join(lines)
        else:
            data = data[:at]
    return data


@st.composite
def csv_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """One cell (or the header's) replaced by a nasty token, quoted or not."""
    lines = data.decode().split("\n")
    rows = [line.split(",") for line in lines if line]
    r = draw(st.integers(0, len(rows) - 1))
    c = draw(st.integers(0, len(rows[r]) - 1))
    rows[r][c] = draw(token)
    quote = draw(st.booleans())
    cell = corpus.csv_cell if quote else encode
    return b"".join(b",".join(cell(x) for x in row) + b"\n" for row in rows)


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), token)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                               st.dictionaries(token, inner, max_size=3)),
                          max_leaves=6)


@st.composite
def json_mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """One object's value replaced, a key renamed, added, repeated or dropped; written as JSON
    text (with the odd raw token: NaN, a bare word, a number with non-ASCII digits)."""
    objects = [corpus.pairs_of(o) for o in json.loads(data)]
    i = draw(st.integers(0, len(objects) - 1))
    pairs = objects[i]
    k = draw(st.integers(0, len(pairs) - 1))
    op = draw(st.sampled_from(["value", "raw value", "rename", "add", "repeat", "drop"]))
    if op == "value":
        pairs[k] = (pairs[k][0], json.dumps(draw(json_value)))
    elif op == "raw value":
        pairs[k] = (pairs[k][0], draw(token))
    elif op == "rename":
        pairs[k] = (json.dumps(draw(token))[1:-1], pairs[k][1])
    elif op == "add":
        pairs.append((json.dumps(draw(token))[1:-1], json.dumps(draw(json_value))))
    elif op == "repeat":
        pairs.append(pairs[k])
    else:
        del pairs[k]
    return corpus.json_file(objects)[0]


@st.composite
def vcf_mutations(draw: st.DrawFn) -> bytes:
    """A column or a sample subfield of one record replaced, a record repeated, a header line edited."""
    records: list[list[Any]] = [list(r) for r in corpus.VCF_RECORDS]
    header = list(corpus.VCF_HEADER)
    op = draw(st.sampled_from(["column", "subfield", "repeat", "header", "sample name"]))
    r = draw(st.integers(0, len(records) - 1))
    if op == "column":
        records[r][draw(st.integers(0, 11))] = draw(token)
    elif op == "subfield":
        c = draw(st.integers(9, 11))
        parts = records[r][c].split(":")
        parts[draw(st.integers(0, len(parts) - 1))] = draw(token)
        records[r][c] = ":".join(parts)
    elif op == "repeat":
        records.append(list(records[r]))
    elif op == "header":
        h = draw(st.integers(0, len(header) - 2))
        header[h] = draw(token)
    else:
        header[-1] = header[-1].replace("S2", draw(token))
    return corpus.vcf_file(records, header)


# ---------------------------------------------------------------- checks

def clean_refusal(exc: DataError, path: Path | str) -> str:
    """A DataError as the CLI prints it: one line naming `path`, a line and a field."""
    message = str(exc)
    assert "\n" not in message and "\r" not in message, message
    assert exc.file == str(path), f"names {exc.file}, not the wrong file {path}: {message}"
    assert exc.line is not None and exc.line >= 1, message
    assert exc.field, message
    return message


@contextlib.contextmanager
def written(data: bytes, suffix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mmbench-fuzz-") as d:
        path = Path(d) / f"input{suffix}"
        path.write_bytes(data)
        yield path


@pytest.fixture(scope="module")
def sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One SQLite backend (a temporary file) for every round trip of this module."""
    before = os.environ.get("MMBENCH_SQLITE_URL")
    os.environ["MMBENCH_SQLITE_URL"] = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    backend = open_backend("sqlite")
    yield backend
    backend.close()
    if before is None:
        os.environ.pop("MMBENCH_SQLITE_URL", None)
    else:
        os.environ["MMBENCH_SQLITE_URL"] = before


def fresh_load(backend: Backend, data: MemoryDataset) -> None:
    backend.reset()  # not needed by the atomic-replace load; kept so the test also runs against a backend without it
    backend.load(data, batch_size=7)


def read_back(backend: Backend, expected: MemoryDataset) -> MemoryDataset:
    """Everything `backend` holds that `expected` describes, through the catalog's reads."""
    patients = backend.patients_older_than(age=-2)  # every age, the unknown -1 included
    diagnoses = [d for p in patients for d in backend.patient_by_id(patient_id=p.patient_id).diagnoses]
    series = {(r.patient_id, r.test_name) for r in expected.lab_result_list}
    labs = [r for pid, test in series for r in backend.lab_history(patient_id=pid, test_name=test,
                                                                     since=dt.date.min, until=dt.date.max)]
    return MemoryDataset("back", patients, diagnoses, labs, backend.all_variants())


def round_trips(backend: Backend, data: MemoryDataset) -> None:
    """Loaded into the backend and read back, `data` is the same entities."""
    fresh_load(backend, data)
    back = read_back(backend, data)
    for kind in ("patient_list", "diagnosis_list", "lab_result_list", "variant_list"):
        mine, theirs = getattr(data, kind), getattr(back, kind)
        assert len(theirs) == len(mine) and set(theirs) == set(mine), kind


def outcome(read: Callable[[], Any], path: Path) -> tuple[str, Any]:
    try:
        return "accepted", read()
    except DataError as exc:
        return "refused", clean_refusal(exc, path)


# ---------------------------------------------------------------- CSV and JSON files

def _files_dataset(kind: str, data: bytes, directory: Path) -> tuple[FileDataset, Path]:
    paths = {}
    for k, name in FILE_OF.items():
        paths[k] = directory / name
        paths[k].write_bytes(data if k == kind else SEED[name])
    return FileDataset("fuzz", genomics=paths["genomics"], samples=paths["samples"], patients_file=paths["patients"],
                       diagnoses_file=paths["diagnoses"], lab_results_file=paths["lab_results"]), paths[kind]


def check_files(kind: str, data: bytes, backend: Backend) -> None:
    """The seed's five files with the `kind` one replaced by `data`: refused cleanly (naming that
    file, or the file holding a patient_id the edit left dangling), or loaded to the same entities."""
    with tempfile.TemporaryDirectory(prefix="mmbench-fuzz-") as d:
        dataset, path = _files_dataset(kind, data, Path(d))
        try:
            dataset.validate()
        except DataError as exc:
            dangling = "unknown patient" in exc.problem and kind in ("patients", "samples")
            clean_refusal(exc, exc.file if dangling else path)
            if dangling:
                assert exc.file != str(path) or kind == "samples"
            return
        round_trips(backend, dataset.materialize())


@pytest.mark.parametrize("kind", list(FILE_OF))
@given(data=st.data())
def test_file_mutations_are_refused_cleanly_or_round_trip(sqlite: Backend, kind: str, data: st.DataObject) -> None:
    good = SEED[FILE_OF[kind]]
    strategies = [byte_mutations(good), csv_mutations(good) if kind in ("genomics", "samples") else json_mutations(good)]
    check_files(kind, data.draw(st.one_of(*strategies)), sqlite)


@pytest.mark.parametrize("kind", list(FILE_OF))
@given(blob=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_a_one_line_data_error(kind: str, blob: bytes) -> None:
    suffix = ".csv" if kind in ("genomics", "samples") else ".json"
    with written(blob, suffix) as path:
        readers: dict[str, Callable[[], Any]] = {
            "genomics": lambda: FileDataset("x", genomics=path).validate(),
            "samples": lambda: read_samples(path),
        }
        read = readers.get(kind, lambda: list(iter_entities_json(path, kind)))
        outcome(read, path)


@given(rows=st.lists(st.tuples(st.text(min_size=1, max_size=8), st.integers()), max_size=5),
       bom=st.booleans(), crlf=st.booleans())
def test_csv_accepts_a_bom_and_crlf_and_refuses_repeated_ids(rows: list[tuple[str, int]], bom: bool, crlf: bool) -> None:
    text = "ID,Patient_ID\n" + "".join(f"{corpus.csv_cell(v).decode('utf-8', 'surrogatepass')},{p}\n" for v, p in rows)
    data = (b"\xef\xbb\xbf" if bom else b"") + encode(text.replace("\n", "\r\n") if crlf else text)
    with written(data, ".csv") as path:
        result = outcome(lambda: read_samples(path), path)
    if result[0] == "accepted":
        assert len(result[1]) == len(rows)
        assert {v: p for v, (p, _) in result[1].items()} == {v.strip(): p for v, p in rows}


# ---------------------------------------------------------------- VCF

@given(data=st.one_of(byte_mutations(GOOD_VCF), vcf_mutations()))
def test_vcf_mutations_same_outcome_from_both_readers_and_round_trip(sqlite: Backend, data: bytes) -> None:
    with written(data, ".vcf") as path:
        results = {reader: outcome(lambda r=reader: VcfDataset(path, reader=r).materialize(), path)
                   for reader in READERS}
    (kind, first), *others = results.values()
    for other in others:
        if kind == "accepted":
            assert other[0] == "accepted", (results, data)
            assert other[1].variant_list == first.variant_list and other[1].patient_list == first.patient_list
        else:
            assert other == (kind, first), (results, data)
    if kind == "accepted":
        round_trips(sqlite, first)


@given(blob=st.binary(max_size=300), gz=st.booleans())
def test_vcf_arbitrary_bytes(blob: bytes, gz: bool) -> None:
    import gzip

    data = corpus.VCF_HEADER[0].encode() + b"\n" + blob if not gz else gzip.compress(blob)
    with written(data, ".vcf.gz" if gz else ".vcf") as path:
        results = {reader: outcome(lambda r=reader: VcfDataset(path, reader=r).validate(), path) for reader in READERS}
    assert len({repr(v) for v in results.values()}) == 1, results


# ---------------------------------------------------------------- parameters

raw_value = st.one_of(token, json_value)


@pytest.mark.parametrize("query", list(Q))
@given(data=st.data())
def test_parse_params_returns_or_raises_one_line_usage_error(query: Q, data: st.DataObject) -> None:
    spec = CATALOG[query]
    names = [p.name for p in spec.params]
    raw = data.draw(st.dictionaries((st.sampled_from(names) | token) if names else token, raw_value,
                                    max_size=len(names) + 1))
    if data.draw(st.booleans()):  # mostly the right names, so values get parsed
        raw = {n: data.draw(raw_value) for n in names if data.draw(st.integers(0, 4))} | raw
    try:
        parsed = spec.parse_params(raw)
    except UsageError as exc:
        assert "\n" not in str(exc) and "\r" not in str(exc)
        assert str(exc).startswith(f"query {query}: ")
        return
    assert set(parsed) == set(names)


GOOD_VARIANT = {"variant_id": "n1", "chromosome": "4", "position": 5, "reference_allele": "A",
                "alternate_allele": "G", "genotype": "AG", "quality": 30, "depth": 40, "patient_id": 12345}
GOOD_PATIENT = {"patient_id": 99001, "name": "New", "age": 40, "sex": "F",
                "diagnoses": [{"diagnosis_id": 99001, "code": "I10", "diagnosed_on": "2024-01-02"}]}
SEED_DATA = seed_dataset()
SEED_PATIENTS = {p.patient_id for p in SEED_DATA.patient_list}
SEED_DIAGNOSES = {d.diagnosis_id for d in SEED_DATA.diagnosis_list}
SEED_VARIANTS = {v.variant_id for v in SEED_DATA.variant_list}


@st.composite
def edited(draw: st.DrawFn, good: dict[str, Any]) -> str:
    """`good` with one value replaced, a key dropped or added, as JSON text (sometimes edited as text)."""
    obj = dict(good)
    key = draw(st.sampled_from(sorted(obj)))
    op = draw(st.sampled_from(["value", "drop", "add", "none", "text"]))
    if op == "value":
        obj[key] = draw(json_value)
    elif op == "drop":
        del obj[key]
    elif op == "add":
        obj[draw(token)] = draw(json_value)
    text = json.dumps(obj)
    if op == "text":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(token) + text[at:]
    return text


@given(data=st.data())
def test_add_variants_parameter_round_trips(sqlite: Backend, data: st.DataObject) -> None:
    items = data.draw(st.lists(edited(GOOD_VARIANT), min_size=1, max_size=3))
    text = "[" + ", ".join(items) + "]" if data.draw(st.integers(0, 5)) else data.draw(token)
    try:
        variants = CATALOG[Q.ADD_VARIANTS].parse_params({"variants": text})["variants"]
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assume(all(v.patient_id in SEED_PATIENTS | {None} and v.variant_id not in SEED_VARIANTS for v in variants))
    fresh_load(sqlite, SEED_DATA)
    sqlite.add_variants(variants=variants)
    for v in variants:
        assert sqlite.variant_by_id(variant_id=v.variant_id) == v


@given(text=edited(GOOD_PATIENT))
def test_add_patient_parameter_round_trips(sqlite: Backend, text: str) -> None:
    try:
        record = CATALOG[Q.ADD_PATIENT].parse_params({"patient": text})["patient"]
    except UsageError as exc:
        assert "\n" not in str(exc)
        return
    assume(record.patient.patient_id not in SEED_PATIENTS)
    assume(not {d.diagnosis_id for d in record.diagnoses} & SEED_DIAGNOSES)
    fresh_load(sqlite, SEED_DATA)
    sqlite.add_patient(patient=record)
    back = sqlite.patient_by_id(patient_id=record.patient.patient_id)
    assert back.patient == record.patient and set(back.diagnoses) == set(record.diagnoses)
