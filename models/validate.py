"""The rules every value obeys before anything is stored: one place, used by every path.

Files (genomics and samples CSV, hospital JSON, VCF), `-p` query parameters and the JSON write
parameters (add_patient, add_variants) all convert values through this module, so the rules
cannot drift apart. A rule takes a value as read (text from a CSV or VCF, a decoded JSON value,
a typed value from a VCF reader) and returns the typed value, or raises ValueError with a short
one-line reason; the caller adds where (file, line and field; or the parameter).

The rules (the README's "What a value may be" repeats them):
- integers: ASCII digits with an optional sign (no `1_000`, no Arabic-Indic or full-width
  digits, no fraction or exponent: `50.0` is not an integer, in a CSV or in JSON), within the
  64-bit signed range;
- numbers: a finite decimal in ASCII (`30`, `-2.5`, `1e-3`; no `nan`, `inf`, hex or `1_000`),
  zero or of magnitude between 1e-15 and 1e15: far beyond any quality or lab value, and
  every engine stores them exactly (DynamoDB's numbers stop at 1e126 and 1e-130);
- text: valid Unicode (no lone surrogates) without NUL or other control characters
  (U+0000-U+001F, U+007F-U+009F); surrounding whitespace is dropped; not empty; at most
  `MAX_CHARS[field]` characters (keys stay within every engine's key-size limits: a
  variant_id of 500 characters is at most 2,000 bytes of UTF-8, under DynamoDB's 2,048);
- dates: `YYYY-MM-DD` exactly, a real calendar date (`20240101` and `2024-W01-1`, which
  Python's date.fromisoformat accepts, are refused);
- domains: position >= 1, depth >= 0, quality >= 0, age 0-150 or -1 (unknown, as a VCF's
  samples), sex F, M or U, chromosome 1-22, X, Y, MT (a `chr` prefix and `M` are accepted),
  alleles letters A, C, G, T, N, REF != ALT, and the genotype spelled with the call's own
  alleles: each allele of the call is REF, ALT or N (one not spelled out), written one after
  another (REF A, ALT G: `AA`, `AG`, `GA`, `GG`, `NG`, haploid `G`);
- ids (patient_id, diagnosis_id, result_id) are integers; a diagnosis code is a known
  ICD-10-CM code (`models.icd10`);
- JSON: one value and nothing after it, no repeated key in an object, nesting at most
  `JSON_MAX_DEPTH` deep, no NaN / Infinity; an object has only the entity's own fields.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

from models import icd10
from models.entities import CHROMOSOMES, Diagnosis, LabResult, Patient, Variant

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUMBER_MAX = 1e15
NUMBER_MIN = 1e-15  # smallest non-zero magnitude
AGE_MAX = 150
UNKNOWN_AGE = -1
SEXES = ("F", "M", "U")
ALLELE_MAX = 100
MAX_CHARS: dict[str, int] = {
    "variant_id": 500, "name": 200, "test_name": 200, "unit": 50,
    "allele": ALLELE_MAX, "genotype": 4 * ALLELE_MAX,
}
"""Length bounds per text field, in characters."""
JSON_MAX_DEPTH = 16
"""Arrays and objects nested at most this deep: a data file needs 2, an add_patient parameter 3."""
NUMBER_TEXT_MAX = 64  # characters of a number written as text (longer ones are no number we store)

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_NUM_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ALLELE = re.compile(r"[ACGTNacgtn]+")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_NONZERO = re.compile(r"[1-9]")
_CHROMOSOMES = frozenset(CHROMOSOMES)
_BLANKS = " \t"


def show(value: Any) -> str:
    """A value as it appears in an error message: one line, short (long text is cut)."""
    if isinstance(value, str) and not isinstance(value, _JsonToken):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value):,} characters)"
    if isinstance(value, _JsonToken):
        return str(value) if len(value) <= 40 else f"{value[:40]}... ({len(value):,} characters)"
    if isinstance(value, Mapping):
        return f"an object ({len(value):,} keys)"
    if isinstance(value, (list, tuple)):
        return f"an array ({len(value):,} items)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- scalar rules

def integer(value: Any) -> int:
    """An integer within the 64-bit signed range, given as one or as ASCII digits."""
    if type(value) is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        n = value
    elif type(value) is str or type(value) is LongInteger:
        s = value.strip(_BLANKS)
        if not _INT_TEXT.fullmatch(s):
            raise ValueError(f"{show(value)} is not an integer (ASCII digits, optional sign)")
        if len(s.lstrip("+-").lstrip("0")) > 19:
            raise ValueError(f"{show(value)} is beyond the 64-bit integer range")
        n = int(s)
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        n = int(value)
    else:
        raise ValueError(f"{show(value)} is not an integer")
    if not INT64_MIN <= n <= INT64_MAX:
        raise ValueError(f"{show(value)} is beyond the 64-bit integer range")
    return n


def number(value: Any) -> float:
    """A finite number, zero or of magnitude 1e-15..1e15, given as one or as ASCII decimal text."""
    if type(value) is float and (NUMBER_MIN <= abs(value) <= NUMBER_MAX or value == 0):
        return value
    if type(value) in (str, LongInteger, JsonNumber):
        s = value.strip(_BLANKS)
        if len(s) > NUMBER_TEXT_MAX or not _NUM_TEXT.fullmatch(s):
            raise ValueError(f"{show(value)} is not a number (ASCII decimal like 30, -2.5 or 1e-3)")
        x = float(s)
        if x == 0 and _NONZERO.search(s.partition("e")[0].partition("E")[0]):
            raise ValueError(f"{show(value)} is out of range (0, or 1e-15 to 1e15 in magnitude)")
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if abs(value) > NUMBER_MAX:
            raise ValueError(f"{show(value)} is out of range (at most 1e15 in magnitude)")
        x = float(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        x = float(value)
    else:
        raise ValueError(f"{show(value)} is not a number")
    if not math.isfinite(x):
        raise ValueError(f"{show(value)} is not a finite number")
    if abs(x) > NUMBER_MAX or (x != 0 and abs(x) < NUMBER_MIN):
        raise ValueError(f"{show(value)} is out of range (0, or 1e-15 to 1e15 in magnitude)")
    return x


def text(value: Any, limit: int) -> str:
    """Valid Unicode without control characters, stripped, not empty, at most `limit` characters."""
    if type(value) is not str:
        raise ValueError(f"{show(value)} is not a string")
    bad = _FORBIDDEN.search(value)
    if bad:
        ch = bad.group()
        if ch == "\0":
            raise ValueError(f"{show(value)} contains a NUL character")
        if "\ud800" <= ch <= "\udfff":
            raise ValueError(f"{show(value)} is not valid Unicode: lone surrogate U+{ord(ch):04X}")
        raise ValueError(f"{show(value)} contains the control character U+{ord(ch):04X}")
    out = value.strip()
    if not out:
        raise ValueError(f"{show(value)} is empty")
    if len(out) > limit:
        raise ValueError(f"{show(value)} is longer than {limit} characters")
    return out


def date(value: Any) -> dt.date:
    """A calendar date written YYYY-MM-DD (nothing else: no 20240101, no week dates)."""
    if type(value) is dt.date:
        return value
    if type(value) is not str:
        raise ValueError(f"{show(value)} is not a date (YYYY-MM-DD)")
    s = value.strip(_BLANKS)
    if not _DATE_TEXT.fullmatch(s):
        raise ValueError(f"{show(value)} is not a date written YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{show(value)} is not a calendar date") from None


def chromosome(value: Any) -> str:
    """1-22, X, Y, MT; `chr4`, `x` and `M` are accepted as 4, X and MT."""
    if type(value) is str and value in _CHROMOSOMES:
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)) or isinstance(value, JsonConstant):
        raise ValueError(f"{show(value)} is not a chromosome (1-22, X, Y, MT)")
    name = str(value).strip(_BLANKS)
    if name[:3].lower() == "chr":
        name = name[3:]
    name = {"M": "MT", "m": "MT", "mt": "MT", "x": "X", "y": "Y"}.get(name, name)
    if name not in CHROMOSOMES:
        raise ValueError(f"{show(value)} is not a chromosome (1-22, X, Y, MT)")
    return name


def allele(value: Any) -> str:
    """Letters A, C, G, T, N (either case; stored upper case), at most ALLELE_MAX of them."""
    return _letters(value, MAX_CHARS["allele"], "an allele")


def genotype_letters(value: Any) -> str:
    """The letters of a genotype (which alleles spell it is checked with the call: `spelled_by`)."""
    return _letters(value, MAX_CHARS["genotype"], "a genotype")


def _letters(value: Any, limit: int, what: str) -> str:
    if type(value) is not str:
        raise ValueError(f"{show(value)} is not {what} (letters A, C, G, T, N)")
    s = value.strip(_BLANKS)
    if not _ALLELE.fullmatch(s):
        raise ValueError(f"{show(value)} is not {what} (letters A, C, G, T, N)")
    if len(s) > limit:
        raise ValueError(f"{show(value)} is longer than {limit} letters")
    return s.upper()


def code(value: Any) -> str:
    """A known ICD-10-CM code, written with its dot (E11.9)."""
    if type(value) is not str:
        raise ValueError(f"{show(value)} is not an ICD-10-CM code (like I10 or E11.9)")
    s = value.strip(_BLANKS)
    if not icd10.CODE_SHAPE.match(s):
        raise ValueError(f"{show(value)} is not an ICD-10-CM code (like I10 or E11.9)")
    if not icd10.is_known(s):
        raise ValueError(f"{show(value)} is not a known ICD-10-CM code (not in the {icd10.version()} code table)")
    return s


def position(value: Any) -> int:
    n = integer(value)
    if n < 1:
        raise ValueError(f"{show(value)} is not a position (at least 1)")
    return n


def depth(value: Any) -> int:
    n = integer(value)
    if n < 0:
        raise ValueError(f"{show(value)} is not a depth (at least 0)")
    return n


def quality(value: Any) -> float:
    x = number(value)
    if x < 0:
        raise ValueError(f"{show(value)} is not a quality (at least 0)")
    return x


def age(value: Any) -> int:
    n = integer(value)
    if n != UNKNOWN_AGE and not 0 <= n <= AGE_MAX:
        raise ValueError(f"{show(value)} is not an age (0-{AGE_MAX}, or {UNKNOWN_AGE} for unknown)")
    return n


def sex(value: Any) -> str:
    s = value.strip(_BLANKS) if type(value) is str else None
    if s not in SEXES:
        raise ValueError(f"{show(value)} is not one of {', '.join(SEXES)}")
    return s


def variant_id(value: Any) -> str:
    return text(value, MAX_CHARS["variant_id"])


def name(value: Any) -> str:
    return text(value, MAX_CHARS["name"])


def test_name(value: Any) -> str:
    return text(value, MAX_CHARS["test_name"])


def unit(value: Any) -> str:
    return text(value, MAX_CHARS["unit"])


def spelled_by(genotype: str, alleles: tuple[str, ...]) -> bool:
    """`genotype` is one or more of `alleles` written one after another (REF AT, ALT A: ATA, AAT...).

    A reachability scan, not a regex: overlapping alleles (A and AA) would make a regex backtrack
    exponentially on a long genotype that does not match."""
    if all(len(a) == 1 for a in alleles):
        return bool(genotype) and not genotype.strip("".join(alleles))
    n = len(genotype)
    reached = [False] * (n + 1)
    reached[0] = True
    for i in range(n):
        if reached[i]:
            for a in alleles:
                if a and genotype.startswith(a, i):
                    reached[i + len(a)] = True
    return n > 0 and reached[n]


# ---------------------------------------------------------------- entities

Rule = Callable[[Any], Any]


class FieldError(ValueError):
    """A value of one entity field broke a rule: `field` is the entity's field name."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"field {field}: {reason}")


RULES: dict[str, dict[str, Rule]] = {
    "patients": {"patient_id": integer, "name": name, "age": age, "sex": sex},
    "diagnoses": {"diagnosis_id": integer, "patient_id": integer, "code": code, "diagnosed_on": date},
    "lab_results": {"result_id": integer, "patient_id": integer, "test_name": test_name, "value": number,
                    "unit": unit, "taken_on": date},
    "variants": {"variant_id": variant_id, "chromosome": chromosome, "position": position,
                 "reference_allele": allele, "alternate_allele": allele, "genotype": genotype_letters,
                 "quality": quality, "depth": depth, "patient_id": integer},
}
"""The rule of every field of every entity kind (models.dataset.FIELDS names them in order)."""
OPTIONAL: dict[str, frozenset[str]] = {"variants": frozenset({"patient_id"})}
"""Fields that may be absent or null (then None)."""


def field_value(kind: str, field: str, values: Mapping[str, Any]) -> Any:
    """`values[field]` converted by its rule; FieldError if it is missing or breaks the rule."""
    raw = values.get(field)
    if raw is None:
        if field in OPTIONAL.get(kind, ()):
            return None
        raise FieldError(field, "missing" if field not in values else "null is not a value")
    try:
        return RULES[kind][field](raw)
    except ValueError as exc:
        raise FieldError(field, str(exc)) from None


def check_keys(kind: str, values: Mapping[str, Any], extra: tuple[str, ...] = ()) -> None:
    """Only the entity's own fields (and `extra`): an unknown key would otherwise be dropped unseen."""
    allowed = RULES[kind]
    for key in values:
        if key not in allowed and key not in extra:
            raise FieldError(key if type(key) is str and key.isprintable() and key else show(key),
                             f"unknown field; valid: {', '.join((*allowed, *extra))}")


_JSON_INTEGER_RULES = frozenset({integer, position, depth, age})
_JSON_NUMBER_RULES = frozenset({number, quality})


def check_json_types(kind: str, values: Mapping[str, Any]) -> None:
    """JSON values have types: an integer field takes a JSON integer, a number field a JSON
    number, every other field a string (`"5"` is no integer, `4` no chromosome). Null is left
    to the field's rule (an optional field takes it)."""
    rules = RULES[kind]
    for key, value in values.items():
        rule = rules.get(key)
        if rule is None or value is None:
            continue
        if rule in _JSON_INTEGER_RULES:
            ok = (type(value) is int or type(value) is LongInteger) or rule is integer and type(value) is JsonConstant
        elif rule in _JSON_NUMBER_RULES:
            ok = type(value) in (int, float, LongInteger, JsonNumber, JsonConstant)
        else:
            ok = type(value) is str
        if not ok:
            wanted = ("an integer" if rule in _JSON_INTEGER_RULES else "a number" if rule in _JSON_NUMBER_RULES
                      else "a string")
            raise FieldError(key, f"{show(value)} is not {wanted} (a JSON {_json_type(value)})")


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (int, float)):
        return "number with a fraction or exponent" if isinstance(value, float) else "number"
    return "array" if isinstance(value, list) else "object" if isinstance(value, dict) else type(value).__name__


def _maker(kind: str, cls: type) -> Callable[[Mapping[str, Any]], Any]:
    """A function building a `cls` from a mapping by the rules of `kind`'s fields, in field order."""
    fields = tuple((f, rule, f in OPTIONAL.get(kind, ())) for f, rule in RULES[kind].items())

    def make(values: Mapping[str, Any]) -> Any:
        out = []
        for f, rule, optional in fields:
            raw = values.get(f)
            if raw is None:
                if optional:
                    out.append(None)
                    continue
                raise FieldError(f, "missing" if f not in values else "null is not a value")
            try:
                out.append(rule(raw))
            except ValueError as exc:
                raise FieldError(f, str(exc)) from None
        return cls(*out)

    return make


make_patient = _maker("patients", Patient)
make_diagnosis = _maker("diagnoses", Diagnosis)
make_lab_result = _maker("lab_results", LabResult)
_make_call = _maker("variants", Variant)


def make_variant(values: Mapping[str, Any]) -> Variant:
    """A Variant by the field rules, then REF != ALT and the genotype spelled with REF, ALT and N."""
    v = _make_call(values)
    if v.reference_allele == v.alternate_allele:
        raise FieldError("alternate_allele", f"equals the reference allele {v.reference_allele!r}")
    check_genotype(v.genotype, v.reference_allele, v.alternate_allele)
    return v


def check_genotype(genotype: str, ref: str, alt: str) -> None:
    if not spelled_by(genotype, (ref, alt, "N")):
        raise FieldError("genotype", f"{show(genotype)} is not spelled with the call's alleles "
                                     f"(REF {show(ref)}, ALT {show(alt)}, N for an allele not spelled out)")


MAKERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "patients": make_patient, "diagnoses": make_diagnosis, "lab_results": make_lab_result, "variants": make_variant,
}


# ---------------------------------------------------------------- JSON

class _JsonToken(str):
    """JSON text kept as text because no Python value may stand for it: rules refuse it by type."""


class LongInteger(_JsonToken):
    """A JSON integer of more digits than any 64-bit integer has (converting it could take long)."""


class JsonConstant(_JsonToken):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON does not have them."""


class JsonNumber(_JsonToken):
    """A JSON number no float holds (1e400, 1e-400): kept as its text, which the number rule refuses."""


class RepeatedKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"repeated key {show(key)}")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKey(key)
            seen.add(key)
    return obj


def _integer(text: str) -> int | LongInteger:
    return int(text) if len(text) <= 24 else LongInteger(text)


def _float(text: str) -> float | JsonNumber:
    x = float(text)
    if x in (float("inf"), float("-inf")) or (x == 0 and _NONZERO.search(text.partition("e")[0].partition("E")[0])):
        return JsonNumber(text)
    return x


DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_integer, parse_float=_float,
                           parse_constant=JsonConstant)
"""json's C decoder with the rules: repeated keys raise RepeatedKey, long integers and NaN stay text.
Its recursion raises RecursionError on nesting deeper than Python's recursion limit."""


def nesting(value: Any) -> int:
    """How deeply arrays and objects nest in a decoded value (0 for a scalar)."""
    deepest, level = 0, [(value, 0)]
    while level:
        item, d = level.pop()
        if isinstance(item, dict):
            item = list(item.values())
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, d + 1)
        if deepest > JSON_MAX_DEPTH:
            return deepest
        level.extend((x, d + 1) for x in item if isinstance(x, (dict, list)))
    return deepest


def loads(text: str) -> Any:
    """One JSON value from `text` by the rules; ValueError with a one-line reason otherwise."""
    if type(text) is not str:
        raise ValueError(f"{show(text)} is not JSON text")
    try:
        value, end = DECODER.raw_decode(text, _skip_ws(text, 0))
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels") from None
    if nesting(value) > JSON_MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
    end = _skip_ws(text, end)
    if end < len(text):
        line = text.count("\n", 0, end) + 1
        raise ValueError(f"unexpected text after the JSON value at line {line} column {end - text.rfind(chr(10), 0, end)}")
    return value


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[{}\[\]:,]', re.DOTALL)


def json_path(text: str, start: int, stop: int, depth_limit: int | None = None) -> tuple[list[str | int], int]:
    """Where position `stop` lies inside the JSON value starting at `start`: the keys (and `[i]`
    array indexes, as ints) enclosing it, and `stop`; with `depth_limit`, instead where nesting first
    exceeds it (the path and the position of that bracket). For error messages only: it
    tokenizes in Python."""
    frames: list[list[Any]] = []  # [bracket, key or index, expecting a key]
    for m in _TOKEN.finditer(text, start, stop):
        tok = m.group()
        c = tok[0]
        if c == '"':
            if frames and frames[-1][0] == "{" and frames[-1][2]:
                try:
                    frames[-1][1] = json.loads(tok)
                except ValueError:
                    frames[-1][1] = tok.strip('"')
                frames[-1][2] = False
        elif c == ",":
            if frames and frames[-1][0] == "[":
                frames[-1][1] += 1
            elif frames:
                frames[-1][1:] = [None, True]
        elif c in "{[":
            frames.append([c, None if c == "{" else 0, c == "{"])
            if depth_limit is not None and len(frames) > depth_limit:
                return _render(frames), m.start()
        elif c in "}]" and frames:
            frames.pop()
    return _render(frames), stop


def _render(frames: list[list[Any]]) -> list[str | int]:
    """Keys as printable text, array indexes as ints."""
    out: list[str | int] = []
    for bracket, key, _ in frames:
        if bracket == "[":
            out.append(key)
        elif key is not None:
            out.append(key if type(key) is str and key.isprintable() and key else show(key))
    return out

