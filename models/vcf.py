"""VCF import: the genotype calls of a VCF file as Variants, its samples as Patients, streamed.

`VcfDataset(path)` reads a VCF (plain or gzip/BGZF) record by record; nothing but the
header and one record is held, plus the ids of the sites seen (to keep ids unique).

Every value stored is read from the record's text by the rules of `models.validate` (the same
rules as the CSV and JSON files and the query parameters); a reader only finds which samples
carry an ALT allele, the costly part of a record with many samples:
- `vcfpy` (pure Python, always installed);
- `cyvcf2` (htslib, the `vcf-fast` extra, several times faster): used when installed.
  `MMBENCH_VCF_READER=vcfpy|cyvcf2` chooses one explicitly.
A reader is asked about a record only after its text has passed the rules (cyvcf2 crashes
the process on some malformed genotypes it fails to parse). Where a reader cannot read a
record that the rules accept (each library has its own quirks), the carriers of that record
(cyvcf2: of the rest of the file) are found from the text instead, so both readers accept and
refuse the same files and give the same entities.

Mapping (also in the README, "Real data"):
- one Variant per site x alternate allele x sample whose genotype carries that allele;
  hom-ref (`0/0`) and no-calls (`./.`) are not variants, a partial call (`./1`) is;
- `variant_id`: the site's ID column when present (`-ALT` appended when the record lists
  several ALT alleles), else `CHROM-POS-REF-ALT`; then `:SAMPLE`, so it is unique per
  sample (`rs123:HG00098`, `2-10038-C-A:NA12878`). A site id repeated in the file is an error;
- `genotype`: the call's alleles in GT order, each spelled as the Variant's REF or ALT, or `N`
  for any other allele: missing, symbolic (`<DEL>`), or another ALT of a multi-allelic site
  (as `bcftools norm -m- --multi-overlaps .` writes it). `0/1`, REF A, ALT G -> `AG`;
  `1|0` -> `GA`; haploid `1` -> `G`; `./1` -> `NG`; `1/2` (ALT G,T) -> `GN` and `NT`;
- `quality`: the site's QUAL, else the sample's GQ, else 0; `depth`: the sample's DP,
  else the site's INFO/DP, else 0;
- `patient_id`: each sample is a patient, `1,000,001 + its column index` among the samples;
  name = the sample name, age unknown = -1 (`UNKNOWN_AGE`, below every real age, so
  `age > n` excludes it for any n >= 0, as SQL's NULL would), sex unknown = `U`;
- skipped, and counted in `describe()`: records on contigs outside 1-22, X, Y, MT (unplaced
  and decoy contigs), records whose REF is longer than `validate.ALLELE_MAX` bases, and ALT
  alleles that are symbolic / breakends / `*` or longer than that (no letters to store).

Bad input is a DataError naming file, line and field: bytes that are not UTF-8, a truncated
gzip, a missing or malformed header, a sample name that is repeated or not a name, a record
whose number of columns is not the header's, a CHROM that is not a contig name, POS / QUAL /
INFO/DP values and a carrier's GQ / DP that break the rules (ASCII digits, 64-bit range,
position >= 1, depth >= 0, quality >= 0 and finite), a FORMAT that repeats a key or does not
start with GT, a sample subfield that does not match the Type its ##FORMAT line declares
(Integer, Float; text without control characters), a genotype that is not allele indexes
separated by `/` or `|`, an allele index beyond the ALT list, REF or ALT not letters A, C, G,
T, N, an ALT equal to REF or to another ALT, a variant id longer than allowed, a repeated site id.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.util
import io
import os
import re
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from models import validate
from models.dataset import Dataset
from models.entities import Diagnosis, LabResult, Patient, Variant
from models.errors import DataError, UsageError
from models.readers import convert

VCF_FIRST_PATIENT_ID = 1_000_001
UNKNOWN_AGE = validate.UNKNOWN_AGE
UNKNOWN_SEX = "U"
READERS = ("vcfpy", "cyvcf2")
READER_ENV = "MMBENCH_VCF_READER"
FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
NOT_CARRIERS = frozenset({"0/0", "0|0", "./.", ".|.", "0", "."})  # fast path: no allele to check
GZIP_DAMAGE = (EOFError, gzip.BadGzipFile, zlib.error)
T = TypeVar("T")


def default_reader() -> str:
    """`MMBENCH_VCF_READER` if set, else cyvcf2 when installed, else vcfpy."""
    chosen = os.environ.get(READER_ENV, "").strip().lower()
    if chosen:
        if chosen not in READERS:
            raise UsageError(f"{READER_ENV}={chosen!r}; valid: {', '.join(READERS)}")
        return chosen
    return "cyvcf2" if importlib.util.find_spec("cyvcf2") else "vcfpy"


def one_thousand_genomes_path() -> Path:
    """The 1000 Genomes pilot VCF (chr 2, 381 sites x 629 samples) shipped in the PyPI package pyvcf3."""
    try:
        path = resources.files("vcf.test") / "1kg.vcf.gz"
    except ModuleNotFoundError:
        raise UsageError("the 1kg data set ships in the package pyvcf3: pip install pyvcf3") from None
    return Path(str(path))


# ---------------------------------------------------------------- lines and header

MAX_LINE_BYTES = 64 << 20
CONTIG = re.compile(r"[0-9A-Za-z!#$%&+./:;?@^_|~-][0-9A-Za-z!#$%&*+./:;=?@^_|~-]*")  # VCF 4.3, 1.4.7
_META_FIELD = re.compile(r'([A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^,>]*)')
FORMAT_KEY = re.compile(r"[A-Za-z_][0-9A-Za-z_.]*")
_GT = r"(?:0|[1-9][0-9]{0,8}|\.)(?:[/|](?:0|[1-9][0-9]{0,8}|\.))*"  # no leading zeros, at most 9 digits


# A FORMAT subfield by its declared Type: one value or a comma-separated list, "." for missing. Each
# alternative that matches is the longest (a delimiter must follow), so the lists are possessive
# (`*+`: no backtracking bookkeeping, a third faster over 629 samples).
_FLOAT = rf"{validate._NUM_TEXT.pattern}|[+-]?(?:[Nn][Aa][Nn]|[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?)|\."
_VALUE = {
    "Integer": r"(?:[+-]?[0-9]+|\.)(?:,(?:[+-]?[0-9]+|\.))*+",
    "Float": rf"(?:{_FLOAT})(?:,(?:{_FLOAT}))*+",
}
_STRING = r"[^\t:\x00-\x1f\x7f]*+"  # String, Character and undeclared keys: no control characters
_WHAT = {"GT": "a genotype (allele indexes separated by / or |)", "Integer": "integers or .", "Float": "numbers or ."}


def _gt_pattern(alts: int) -> str:
    """A GT whose allele indexes are within 0..alts (so no reader need be trusted with one beyond:
    htslib keeps them in 16 bits), or `.`, separated by / or |. Beyond 9 ALTs: carriers checked one by one."""
    index = f"[0-{alts}]" if alts <= 9 else f"0|[1-9][0-9]{{0,{len(str(alts)) - 1}}}"
    return rf"(?:{index}|\.)(?:[/|](?:{index}|\.))*+"


def _subfield(key: str, types: Mapping[str, str], alts: int) -> str:
    return _gt_pattern(alts) if key == "GT" else _VALUE.get(types.get(key, "String"), _STRING)


@functools.lru_cache(maxsize=256)
def samples_pattern(format_text: str, types: tuple[tuple[str, str], ...], alts: int) -> re.Pattern[str]:
    """All sample columns of a record at once: each subfield by the Type the header declares for it
    (GT: allele indexes within the record's ALT count). A reader is then never handed a value it
    fails to parse (cyvcf2 crashes the process on some such failures: a malformed value on a
    contig the header does not declare). Trailing subfields may be dropped (VCF 4.3, 1.6.2)."""
    declared = dict(types)
    pattern = ""
    for key in reversed(format_text.split(":")):
        sub = _subfield(key, declared, alts)
        pattern = f"{sub}(?::{pattern})?" if pattern else sub
    return re.compile(rf"{pattern}(?:\t{pattern})*")


@dataclass(frozen=True)
class VcfHeader:
    lines: tuple[str, ...]  # the meta lines and the #CHROM line
    samples: tuple[str, ...]
    format_types: tuple[tuple[str, str], ...] = ()  # (ID, Type) of each ##FORMAT line

    @staticmethod
    def declared_formats(meta: list[str]) -> tuple[tuple[str, str], ...]:
        """(ID, Type) of the ##FORMAT lines (the last one wins, as in htslib)."""
        out: dict[str, str] = {}
        for line in meta:
            if line.startswith("##FORMAT=<"):
                fields = dict(m.groups() for m in _META_FIELD.finditer(line[len("##FORMAT=<"):]))
                if "ID" in fields:
                    out[fields["ID"]] = fields.get("Type", "String")
        return tuple(out.items())

    @property
    def has_format(self) -> bool:
        return len(self.lines[-1].split("\t")) > 8

    def column(self, index: int) -> str:
        """The name of column `index` of a record, as the field of an error."""
        if index < 8:
            return FIXED_COLUMNS[index].lstrip("#")
        if index == 8:
            return "FORMAT"
        if index - 9 < len(self.samples):
            return f"sample {self.samples[index - 9]}"
        return f"(column {index + 1})"


class _BadBytes(Exception):
    """A line that is not UTF-8 (turned into a DataError where the header is known)."""

    def __init__(self, line: int, raw: bytes, start: int) -> None:
        self.line, self.raw, self.start = line, raw, start


def _open_binary(path: Path) -> Any:
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        return gzip.open(path, "rb") if gzipped else path.open("rb")
    except OSError as exc:
        raise DataError(str(path), None, None, exc.strerror or str(exc)) from None


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line break): strict UTF-8 per line (so the number is exact);
    gzip damage becomes a DataError, bytes that are not UTF-8 a _BadBytes."""
    number = 0
    with _open_binary(path) as fh:
        try:
            while raw := fh.readline(MAX_LINE_BYTES):
                number += 1
                if len(raw) >= MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise DataError(str(path), number, "(record)", f"line longer than {MAX_LINE_BYTES >> 20} MiB")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _BadBytes(number, raw, exc.start) from None
                yield number, line.rstrip("\r\n")
        except GZIP_DAMAGE as exc:
            raise DataError(str(path), number + 1, "(record)", f"truncated or corrupt gzip data ({exc})") from None


def _bad_bytes(name: str, header: VcfHeader | None, bad: _BadBytes) -> DataError:
    text = bad.raw[: bad.start].decode("utf-8")
    field = header.column(text.count("\t")) if header is not None else "(header)"
    return DataError(name, bad.line, field, f"bytes that are not UTF-8 ({bad.raw[bad.start:bad.start + 4]!r}...)")


def _take_header(name: str, lines: Iterator[tuple[int, str]]) -> VcfHeader:
    """Consume the header from `lines`: `##fileformat=VCF...` first, meta lines, the #CHROM line."""
    meta: list[str] = []
    try:
        for number, line in lines:
            if number == 1 and not line.startswith("##fileformat=VCF"):
                raise DataError(name, 1, "(header)", "missing header: a VCF file starts with a ##fileformat=VCFv4.x line")
            if line.startswith("##"):
                meta.append(line)
                continue
            if not line.startswith("#CHROM"):
                raise DataError(name, number, "(header)", "missing header: expected the #CHROM line before the first record")
            columns = line.split("\t")
            if tuple(columns[:8]) != FIXED_COLUMNS or len(columns) == 9 or (len(columns) > 9 and columns[8] != "FORMAT"):
                raise DataError(name, number, "(header)", "malformed #CHROM line: expected the tab-separated columns "
                                                          "#CHROM POS ID REF ALT QUAL FILTER INFO [FORMAT SAMPLE...]")
            samples = columns[9:]
            seen: set[str] = set()
            for i, sample in enumerate(samples):
                try:
                    validate.name(sample)
                except ValueError as exc:
                    raise DataError(name, number, "(header)", f"sample name {i + 1}: {exc}") from None
                if sample in seen:
                    raise DataError(name, number, "(header)", f"sample name {sample!r} is repeated")
                if sample != sample.strip():
                    raise DataError(name, number, "(header)", f"sample name {sample!r} has blanks around it")
                seen.add(sample)
            return VcfHeader((*meta, line), tuple(samples), VcfHeader.declared_formats(meta))
    except _BadBytes as bad:
        raise _bad_bytes(name, None, bad) from None
    raise DataError(name, 1, "(header)", "missing header: the file is empty")


# ---------------------------------------------------------------- readers: which samples carry an ALT allele

Carriers = list[int] | None  # sample column indexes; None: the reader could not read the record


class CarrierReader:
    """Which samples of a record carry an ALT allele. `carriers(index, line)` is asked only for a
    record whose text the rules have accepted, in file order (record `index`, 0-based, is `line`),
    and every earlier record has been accepted too: a reader never parses a record the rules refuse
    (cyvcf2 crashes the process on some malformed genotypes)."""

    def __init__(self, name: str, header: VcfHeader) -> None:
        self.name, self.header = name, header

    def carriers(self, index: int, line: str) -> Carriers:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _VcfpyCarriers(CarrierReader):
    def __init__(self, name: str, header: VcfHeader) -> None:
        super().__init__(name, header)
        import vcfpy

        self.lint = vcfpy.exceptions.VCFPyWarning
        try:
            with _silenced(self.lint):
                reader = vcfpy.Reader.from_stream(io.StringIO("\n".join(header.lines) + "\n"), path=name)
            self.parse: Callable[[str], Any] | None = reader.parser.parse_line
        except Exception:  # noqa: BLE001 - a header vcfpy cannot read: the carriers come from the text
            self.parse = None

    def carriers(self, index: int, line: str) -> Carriers:
        if self.parse is None:
            return None
        try:
            with _silenced(self.lint):
                record = self.parse(line)
            return [i for i, call in enumerate(record.calls or ())
                    if call.data.get("GT") not in NOT_CARRIERS and any(call.gt_alleles or ())]
        except Exception:  # noqa: BLE001 - vcfpy's quirks are not the rules: the carriers come from the text
            return None


@contextlib.contextmanager
def _silenced(category: type[Warning]) -> Iterator[None]:
    """Ignore one warning category (vcfpy lints headers and records through warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        yield


class _Cyvcf2Carriers(CarrierReader):
    """htslib reads the file itself, opened at the first question and advanced record by record
    as asked; each record is matched to its text (CHROM and POS must agree). From the first
    record htslib cannot read, the carriers come from the text."""

    def __init__(self, name: str, header: VcfHeader) -> None:
        super().__init__(name, header)
        self.vcf: Any = None
        self.records: Any = None
        self.read = 0  # records htslib has parsed
        self.failed = False

    def carriers(self, index: int, line: str) -> Carriers:
        if self.failed:
            return None
        try:
            if self.vcf is None:
                self._open()
            record = None
            while self.read <= index:
                record = next(self.records)
                self.read += 1
            chrom, _, rest = line.partition("\t")
            if record is None or record.CHROM != chrom or str(record.POS) != rest.partition("\t")[0]:
                raise ValueError("out of step with the text")
            genotypes = record.genotype.array() if record.genotype is not None else None
            if genotypes is None or not len(genotypes):
                return []
            return self.np.flatnonzero((genotypes[:, :-1] > 0).any(axis=1)).tolist()
        except Exception:  # noqa: BLE001 - htslib's errors are plain Exceptions; from here on, the text
            self.failed = True
            return None

    def _open(self) -> None:
        import cyvcf2
        import numpy as np

        self.np = np
        if "CYVCF2_HTSLIB_LOG_LEVEL" not in os.environ:  # htslib's stderr lines would break the one-line errors
            cyvcf2.cyvcf2.set_htslib_log_level(0)
        self.vcf = cyvcf2.VCF(self.name)
        self.records = iter(self.vcf)

    def close(self) -> None:
        if self.vcf is not None:
            self.vcf.close()


CARRIER_READERS: dict[str, type[CarrierReader]] = {"vcfpy": _VcfpyCarriers, "cyvcf2": _Cyvcf2Carriers}


# ---------------------------------------------------------------- the mapping

def _symbolic(alt: str) -> bool:
    """`<DEL>`, `*`, breakends like `G]2:421681]`: alleles without letters to store."""
    return alt.startswith(("<", "*", ".")) or "[" in alt or "]" in alt


def _alleles(gt: str) -> list[int | None]:
    return [None if a == "." else int(a) for a in re.split(r"[/|]", gt)]


@dataclass
class _Mapper:
    """Turns records (their text and carriers) into Variants; remembers the site ids already used."""

    name: str
    header: VcfHeader
    used: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    known: dict[tuple[Callable[[str], Any], str], Any] = field(default_factory=dict)
    """Values already converted by a rule (GQ and DP texts repeat across samples and records)."""

    def error(self, line: int, field_: str, problem: str) -> DataError:
        return DataError(self.name, line, field_, problem)

    def rule(self, line: int, field_: str, func: Callable[[str], T], text: str) -> T:
        """`func(text)` for a number column: no blanks around it (VCF columns have none)."""
        if text != text.strip():
            raise self.error(line, field_, f"{validate.show(text)} has blanks around it")
        return convert(self.name, line, field_, func, text)

    def variants(self, line: int, text: str, index: int, reader: CarrierReader) -> Iterator[Variant]:
        """The Variants of record `index` (0-based), `text` on `line`; `reader` is asked for its
        carriers once the record's text has passed the rules."""
        cols = text.split("\t", 9)
        samples = self.header.samples
        width = 8 if not self.header.has_format else 9 + len(samples)
        count = len(cols) if len(cols) < 10 else 9 + cols[9].count("\t") + 1
        if not text.strip():
            raise self.error(line, "(record)", "malformed record: empty line")
        if count != width:
            what = self.header.column(min(count, width)) if count < width else f"(column {width + 1})"
            raise self.error(line, what, f"malformed record: {count} columns, the header has {width}")
        chrom, pos_text, ids, ref_text, alt_text, qual_text, _filter, info = cols[:8]
        if not CONTIG.fullmatch(chrom):
            raise self.error(line, "CHROM", f"{validate.show(chrom)} is not a contig name")
        position = self.rule(line, "POS", validate.position, pos_text)
        if ids != ".":
            for one in ids.split(";"):
                if not one or one != one.strip() or " " in one:
                    raise self.error(line, "ID", f"{validate.show(ids)} is not ';'-separated ids without blanks")
            convert(self.name, line, "ID", validate.variant_id, ids)
        ref = convert(self.name, line, "REF", _letters, ref_text)
        alt_texts = [] if alt_text == "." else alt_text.split(",")
        qual = None if qual_text == "." else self.rule(line, "QUAL", validate.quality, qual_text)
        info_dp = self._info_dp(line, info)
        sample_text = ""
        if width > 8:
            format_text = cols[8]
            keys = format_text.split(":")
            if format_text != "." and (any(not FORMAT_KEY.fullmatch(k) for k in keys) or len(set(keys)) != len(keys)
                                       or ("GT" in keys and keys[0] != "GT")):
                raise self.error(line, "FORMAT", f"{validate.show(format_text)} is not ':'-separated keys, "
                                                 "each once, GT first")
            sample_text = cols[9]
            if not samples_pattern(format_text, self.header.format_types, len(alt_texts)).fullmatch(sample_text):
                self._bad_sample(line, keys, sample_text.split("\t"), len(alt_texts))
        alts: list[str | None] = []
        for alt in alt_texts:
            if _symbolic(alt):
                self.skipped["symbolic ALT alleles"] += 1
                alts.append(None)
                continue
            alt = convert(self.name, line, "ALT", _letters, alt)
            if alt == ref or alt in alts:
                raise self.error(line, "ALT", f"allele {alt!r} repeats REF or another ALT")
            if len(alt) > validate.ALLELE_MAX:
                self.skipped[f"ALT alleles longer than {validate.ALLELE_MAX} bases"] += 1
                alts.append(None)
                continue
            alts.append(alt)
        try:
            chromosome = validate.chromosome(chrom)
        except ValueError:
            self.skipped["records on other contigs"] += 1
            return
        if len(ref) > validate.ALLELE_MAX:
            self.skipped[f"records with REF longer than {validate.ALLELE_MAX} bases"] += 1
            return
        if width == 8 or not cols[8].startswith("GT"):
            return
        columns = sample_text.split("\t")
        carriers = reader.carriers(index, text)
        if carriers is None:
            carriers = [i for i, col in enumerate(columns) if any(_alleles(col.partition(":")[0]))]
        if not carriers:
            return
        keys = cols[8].split(":")
        gq_at = keys.index("GQ") if "GQ" in keys else None
        dp_at = keys.index("DP") if "DP" in keys else None
        keyed = {index: self._site_key(line, ids, len(alt_texts), chromosome, position, ref, alt)
                 for index, alt in enumerate(alts, start=1) if alt is not None}
        for i in carriers:
            sample = samples[i]
            values = columns[i].split(":")
            alleles = _alleles(values[0])
            for a in alleles:
                if a is not None and a > len(alts):
                    raise self.error(line, f"GT of sample {sample}",
                                     f"allele index {a} is out of range: the record has {len(alts)} ALT allele(s)")
            gq = values[gq_at] if gq_at is not None and gq_at < len(values) and values[gq_at] != "." else None
            dp = values[dp_at] if dp_at is not None and dp_at < len(values) and values[dp_at] != "." else None
            sample_gq = None if gq is None else self.value(line, f"GQ of sample {sample}", validate.quality, gq)
            quality = qual if qual is not None else sample_gq if sample_gq is not None else 0.0
            if dp is not None:
                depth = self.value(line, f"DP of sample {sample}", validate.depth, dp)
            else:
                depth = 0 if info_dp is None else info_dp
            for allele in sorted({a for a in alleles if a and a in keyed}):
                alt = alts[allele - 1]
                genotype = "".join(ref if a == 0 else alt if a == allele else "N" for a in alleles)
                variant_id = f"{keyed[allele]}:{sample}"
                # Their parts obey the rules already (letters, a name, an id): only the length is left to check.
                if len(genotype) > validate.MAX_CHARS["genotype"]:
                    convert(self.name, line, f"GT of sample {sample}", validate.genotype_letters, genotype)
                if len(variant_id) > validate.MAX_CHARS["variant_id"]:
                    convert(self.name, line, "ID", validate.variant_id, variant_id)
                yield Variant(variant_id, chromosome, position, ref, alt, genotype, quality, depth,
                              VCF_FIRST_PATIENT_ID + i)

    def value(self, line: int, field_: str, rule: Callable[[str], T], text: str) -> T:
        """`rule(text)` for a sample's subfield, remembered: the same texts recur thousands of times."""
        key = (rule, text)
        try:
            return self.known[key]
        except KeyError:
            pass
        out = self.rule(line, field_, rule, text)
        if len(self.known) > 10_000:
            self.known.clear()
        self.known[key] = out
        return out

    def _info_dp(self, line: int, info: str) -> int | None:
        found = None
        if "DP=" in info:
            for item in info.split(";"):
                if item.startswith("DP="):
                    if found is not None:
                        raise self.error(line, "INFO/DP", "repeated")
                    found = self.rule(line, "INFO/DP", validate.depth, item[3:])
        return found

    def _bad_sample(self, line: int, keys: list[str], columns: list[str], alts: int) -> None:
        """Name the sample and subfield that broke the rules (the pattern over all samples did not match)."""
        types = dict(self.header.format_types)
        for i, col in enumerate(columns):
            sample = self.header.samples[i]
            values = col.split(":")
            if len(values) > len(keys):
                raise self.error(line, f"sample {sample}", f"{validate.show(col)} has more subfields than FORMAT")
            for key, value in zip(keys, values):
                if key == "GT" and re.fullmatch(_GT, value):
                    beyond = [a for a in _alleles(value) if a is not None and a > alts]
                    if beyond:
                        raise self.error(line, f"GT of sample {sample}",
                                         f"allele index {beyond[0]} is out of range: the record has {alts} ALT allele(s)")
                if not re.fullmatch(_subfield(key, types, alts), value):
                    what = _WHAT.get("GT" if key == "GT" else types.get(key, "String"), "text without control characters")
                    raise self.error(line, f"{key} of sample {sample}", f"{validate.show(value)} is not {what}")
        raise self.error(line, "(record)", "malformed sample columns")  # pragma: no cover - the pattern and the scan agree

    def _site_key(self, line: int, ids: str, n_alts: int, chromosome: str, position: int, ref: str, alt: str) -> str:
        if ids != ".":
            key = ids if n_alts == 1 else f"{ids}-{alt}"
        else:
            key = f"{chromosome}-{position}-{ref}-{alt}"
        first = self.used.setdefault(key, line)
        if first != line:
            raise self.error(line, "ID", f"site {key!r} already appears on line {first}")
        return key


def _letters(text: str) -> str:
    """REF and ALT: letters A, C, G, T, N of any length (long ones are skipped, not refused)."""
    if not validate._ALLELE.fullmatch(text):
        raise ValueError(f"{validate.show(text)} is not an allele (letters A, C, G, T, N)")
    return text.upper()


# ---------------------------------------------------------------- the data set

class VcfDataset(Dataset):
    """A VCF file as a data set: its samples as patients, its genotype calls as variants."""

    def __init__(self, path: str | Path, *, name: str | None = None, reader: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        self.reader = reader or default_reader()
        if self.reader not in READERS:
            raise UsageError(f"unknown VCF reader {self.reader!r}; valid: {', '.join(READERS)}")
        self.skipped: dict[str, int] | None = None  # known after one full pass over the variants

    def header(self) -> VcfHeader:
        with contextlib.closing(_numbered_lines(self.path)) as lines:
            return _take_header(str(self.path), lines)

    def patients(self) -> Iterator[Patient]:
        for index, sample in enumerate(self.header().samples):
            yield Patient(VCF_FIRST_PATIENT_ID + index, sample, UNKNOWN_AGE, UNKNOWN_SEX)

    def diagnoses(self) -> Iterator[Diagnosis]:
        return iter(())

    def lab_results(self) -> Iterator[LabResult]:
        return iter(())

    def variants(self) -> Iterator[Variant]:
        name = str(self.path)
        header: VcfHeader | None = None
        try:
            with contextlib.closing(_numbered_lines(self.path)) as lines:
                header = _take_header(name, lines)
                mapper = _Mapper(name, header)
                with contextlib.closing(CARRIER_READERS[self.reader](name, header)) as reader:
                    for index, (number, text) in enumerate(lines):
                        yield from mapper.variants(number, text, index, reader)
        except _BadBytes as bad:
            raise _bad_bytes(name, header, bad) from None
        self.skipped = dict(mapper.skipped)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "files": {"vcf": str(self.path)}, "reader": self.reader}
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def one_thousand_genomes(reader: str | None = None) -> VcfDataset:
    """The `1kg` data set: 629 samples, 381 chromosome-2 sites of the 1000 Genomes pilot."""
    return VcfDataset(one_thousand_genomes_path(), name="1kg", reader=reader)
