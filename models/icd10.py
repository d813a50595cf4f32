"""ICD-10-CM: the code table shipped in the PyPI package `simple-icd-10-cm`.

- `is_known(code)`: the code is in the ICD-10-CM table: a category (`E11`), a subcategory
  or a billable code (`E11.9`), written with its dot as the data sets write it. Readers
  reject diagnoses whose code is not known.
- `billable_codes()`: the codes with no subdivisions (what a record should carry); the
  synthetic generator draws its rare codes from them.
- `description(code)`: the code's title, e.g. `I10` -> "Essential (primary) hypertension".

Why two sources inside the one package: importing `simple_icd_10_cm` parses its 10 MB
tabular XML (about 3.5 s), too slow for every `mmbench` command, so membership reads the
plain code list the package ships beside the XML (tens of milliseconds, found without
importing the package), and only `description` imports the library (once, on first use).
The tests check that both agree.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import warnings
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from types import ModuleType
from typing import Any

CODE_SHAPE = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
"""How an ICD-10-CM code is written: letter, two characters, then a dot and up to four."""

_UNDOTTED = re.compile(r"^[A-Z][0-9][0-9A-Z]{1,5}$", re.MULTILINE)
PACKAGE = "simple_icd_10_cm"


@functools.cache
def _code_list() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the ICD-10-CM table needs the package simple-icd-10-cm: pip install simple-icd-10-cm")
    lists = sorted(Path(spec.submodule_search_locations[0], "data").glob("code-list-*.txt"))
    if len(lists) != 1:
        raise RuntimeError(f"simple-icd-10-cm should ship one code list, found {len(lists)}")
    return lists[0]


def version() -> str:
    """The release of the table, e.g. "April 2026" (from the shipped file's name)."""
    return _code_list().stem.removeprefix("code-list-").replace("-", " ")


@functools.cache
def _table() -> tuple[str, ...]:
    """Every category, subcategory and code, undotted, sorted (a parent sorts just before its children)."""
    text = _code_list().read_text(encoding="utf-8")  # one code a line; chapters and blocks too
    return tuple(sorted(_UNDOTTED.findall(text)))


@functools.cache
def _known() -> frozenset[str]:
    return frozenset(_table())


def _dotted(undotted: str) -> str:
    return undotted if len(undotted) <= 3 else f"{undotted[:3]}.{undotted[3:]}"


def is_known(code: str) -> bool:
    """`code` (dotted, like `E11.9`) is in the ICD-10-CM table."""
    return bool(CODE_SHAPE.match(code)) and code.replace(".", "") in _known()


@functools.cache
def billable_codes() -> tuple[str, ...]:
    """The codes without subdivisions, dotted, sorted (74,706 in the April 2026 table)."""
    table = _table()
    return tuple(_dotted(c) for c, after in pairwise((*table, "")) if not after.startswith(c))


@functools.cache
def description(code: str) -> str | None:
    """The title of a known code; None for an unknown one. Imports the library on first use."""
    if not is_known(code):
        return None
    return library().get_description(code)


@functools.cache
def library() -> ModuleType:
    """The `simple_icd_10_cm` module, imported on first use (it parses its XML: ~3.5 s)."""
    with warnings.catch_warnings():  # it reads its data through deprecated importlib.resources calls
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(PACKAGE)


def with_descriptions(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A canonical `patient_by_id` answer with each diagnosis's `description` added (for display only)."""
    if record is None:
        return None
    diagnoses = [{**d, "description": description(d["code"]) or ""} for d in record.get("diagnoses", [])]
    return {**record, "diagnoses": diagnoses}
