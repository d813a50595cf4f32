"""VCF import: the genotype calls of a VCF file as Variants, its samples as Patients, streamed.

`VcfDataset(path)` reads a VCF (plain or gzip/BGZF) record by record; nothing but the
header and one record is held, plus the ids of the sites seen (to keep ids unique).
Two readers give the same entities:
- `vcfpy` (pure Python, always installed);
- `cyvcf2` (htslib, the `vcf-fast` extra, several times faster): used when installed.
  `MMBENCH_VCF_READER=vcfpy|cyvcf2` chooses one explicitly.

Mapping (also in the README, "Real data"):
- one Variant per site x alternate allele x sample whose genotype carries that allele;
  hom-ref (`0/0`) and no-calls (`./.`) are not variants, a partial call (`./1`) is;
- `variant_id`: the site's ID column when present (`-ALT` appended when the record lists
  several ALT alleles), else `CHROM-POS-REF-ALT`; then `:SAMPLE`, so it is unique per
  sample (`rs123:HG00098`, `2-10038-C-A:NA12878`). A site id repeated in the file is an error;
- `genotype`: the allele letters of the call in GT order (`0/1`, REF A, ALT G -> `AG`;
  `1|0` -> `GA`; haploid `1` -> `G`); `N` spells an allele with no letters (missing
  `./1` -> `NG`, or symbolic like `<DEL>`);
- `quality`: the site's QUAL, else the sample's GQ, else 0; `depth`: the sample's DP,
  else the site's INFO/DP, else 0;
- `patient_id`: each sample is a patient, `1,000,001 + its column index` among the samples;
  name = the sample name, age unknown = -1 (`UNKNOWN_AGE`, below every real age, so
  `age > n` excludes it for any n >= 0, as SQL's NULL would), sex unknown = `U`;
- skipped, and counted in `describe()`: records on contigs outside 1-22, X, Y, MT (unplaced
  and decoy contigs), and symbolic / breakend / `*` ALT alleles (no letters to store).

Bad input (a truncated gzip, a missing header, a malformed record, a genotype allele index
beyond the ALT list) raises DataError naming file, line and problem. cyvcf2's own parse
errors carry no detail, so the file is re-read with vcfpy up to the failing line to name
the problem.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.util
import io
import itertools
import os
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from models.dataset import Dataset
from models.entities import Diagnosis, LabResult, Patient, Variant
from models.errors import DataError, UsageError, first_line
from models.readers import Field, convert

VCF_FIRST_PATIENT_ID = 1_000_001
UNKNOWN_AGE = -1
UNKNOWN_SEX = "U"
READERS = ("vcfpy", "cyvcf2")
READER_ENV = "MMBENCH_VCF_READER"
FIXED_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO")
NOT_CARRIERS = frozenset({"0/0", "0|0", "./.", ".|.", "0", "."})  # fast path: no allele to check
GZIP_DAMAGE = (EOFError, gzip.BadGzipFile, zlib.error)
INT32_MISSING = (-(2**31), -(2**31) + 1)  # htslib's missing and vector-end markers


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

@dataclass(frozen=True)
class VcfHeader:
    lines: tuple[str, ...]  # the meta lines and the #CHROM line
    samples: tuple[str, ...]


@contextlib.contextmanager
def _open_text(path: Path) -> Iterator[TextIO]:
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        fh = gzip.open(path, "rt", encoding="utf-8") if gzipped else path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(str(path), None, None, exc.strerror or str(exc)) from None
    with fh:
        yield fh  # type: ignore[misc]


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without its line break); gzip and encoding damage become DataErrors."""
    number = 0
    with _open_text(path) as fh:
        try:
            for line in fh:
                number += 1
                yield number, line.rstrip("\r\n")
        except GZIP_DAMAGE as exc:
            raise _gzip_damage(path, number + 1, exc) from None
        except UnicodeDecodeError:
            raise DataError(str(path), number + 1, None, "not UTF-8 text") from None


def _gzip_damage(path: Path, line: int, exc: BaseException) -> DataError:
    return DataError(str(path), line, None, f"truncated or corrupt gzip data ({exc})")


def _check_gzip(path: Path) -> None:
    """Decompress the whole file (at C speed, counting lines); DataError at the line where it breaks."""
    with _open_text(path) as fh:
        raw = getattr(fh, "buffer", None)
        if not isinstance(raw, gzip.GzipFile):
            return
        lines = 0
        try:
            while chunk := raw.read1(1 << 16):  # read1: what is decompressed so far, not lost on error
                lines += chunk.count(b"\n")
        except GZIP_DAMAGE as exc:
            raise _gzip_damage(path, lines + 1, exc) from None


def _take_header(name: str, lines: Iterator[tuple[int, str]]) -> VcfHeader:
    """Consume the header from `lines`: `##fileformat=VCF...` first, meta lines, the #CHROM line."""
    meta: list[str] = []
    for number, line in lines:
        if number == 1 and not line.startswith("##fileformat=VCF"):
            raise DataError(name, 1, None, "missing header: a VCF file starts with a ##fileformat=VCFv4.x line")
        if line.startswith("##"):
            meta.append(line)
            continue
        if not line.startswith("#CHROM"):
            raise DataError(name, number, None, "missing header: expected the #CHROM line before the first record")
        columns = line.split("\t")
        if tuple(columns[:8]) != FIXED_COLUMNS or len(columns) == 9 or (len(columns) > 9 and columns[8] != "FORMAT"):
            raise DataError(name, number, None, "malformed #CHROM line: expected the tab-separated columns "
                                                "#CHROM POS ID REF ALT QUAL FILTER INFO [FORMAT SAMPLE...]")
        samples = columns[9:]
        seen: set[str] = set()
        for sample in samples:
            if not sample.strip() or sample in seen:
                raise DataError(name, number, None, f"sample name {sample!r} is empty or repeated")
            seen.add(sample)
        return VcfHeader((*meta, line), tuple(samples))
    raise DataError(name, 1, None, "missing header: the file is empty")


# ---------------------------------------------------------------- sites: what a reader yields

@dataclass(frozen=True, slots=True)
class Call:
    """A sample's call carrying at least one allele index other than 0 (REF)."""

    sample: int  # column index among the samples
    alleles: tuple[int | None, ...]  # GT allele indexes in GT order; None = missing
    gq: Any
    dp: Any


@dataclass(slots=True)
class Site:
    """One VCF record as read, values not yet checked; only the carrying calls."""

    line: int
    chrom: str
    pos: Any
    ids: str | None
    ref: str
    alts: list[str]
    qual: Any
    info_dp: Any
    calls: list[Call]


class _HtslibFailure(DataError):
    """cyvcf2 (htslib) could not read a record; its message has no detail."""


SiteReader = Callable[[str, VcfHeader, Iterator[tuple[int, str]]], Iterator[Site]]


def _vcfpy_sites(name: str, header: VcfHeader, lines: Iterator[tuple[int, str]]) -> Iterator[Site]:
    import vcfpy

    lint = vcfpy.exceptions.VCFPyWarning
    try:
        with _silenced(lint):
            reader = vcfpy.Reader.from_stream(io.StringIO("\n".join(header.lines) + "\n"), path=name)
    except (ValueError, vcfpy.exceptions.VCFPyException) as exc:
        raise DataError(name, None, None, f"malformed header: {first_line(exc)}") from None
    parse = reader.parser.parse_line
    for number, line in lines:
        try:
            if not line.strip():
                raise ValueError("empty line")
            with _silenced(lint):
                record = parse(line)
            calls = [Call(index, tuple(call.gt_alleles), call.data.get("GQ"), call.data.get("DP"))
                     for index, call in enumerate(record.calls or ())
                     if call.data.get("GT") not in NOT_CARRIERS and any(call.gt_alleles or ())]
            alts = [alt.serialize() for alt in record.ALT]
        except (ValueError, TypeError, IndexError, KeyError, vcfpy.exceptions.VCFPyException) as exc:
            raise DataError(name, number, None, f"malformed record: {first_line(exc)}") from None
        yield Site(number, record.CHROM, record.POS, ";".join(record.ID) or None, record.REF, alts,
                   record.QUAL, record.INFO.get("DP"), calls)


@contextlib.contextmanager
def _silenced(category: type[Warning]) -> Iterator[None]:
    """Ignore one warning category (vcfpy lints headers and records through warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        yield


def _cyvcf2_sites(name: str, header: VcfHeader, _lines: Iterator[tuple[int, str]]) -> Iterator[Site]:
    import cyvcf2

    if "CYVCF2_HTSLIB_LOG_LEVEL" not in os.environ:  # htslib's stderr lines would break the one-line errors
        cyvcf2.cyvcf2.set_htslib_log_level(0)
    first = len(header.lines) + 1  # htslib rejects empty lines, so record k is on line first + k
    try:
        vcf = cyvcf2.VCF(name)
    except OSError as exc:
        raise _HtslibFailure(name, first, None, f"htslib could not open the file ({exc})") from None
    records = iter(vcf)
    try:
        for number in itertools.count(first):
            try:
                record = next(records)
                site = _cyvcf2_site(number, record)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - htslib's errors are plain Exceptions
                raise _HtslibFailure(name, number, None, f"htslib could not read the record ({first_line(exc)})") from None
            yield site
    finally:
        vcf.close()


def _cyvcf2_site(number: int, record: Any) -> Site:
    import numpy as np

    calls: list[Call] = []
    genotypes = record.genotype.array() if record.genotype is not None else None
    if genotypes is not None and len(genotypes):
        alleles = genotypes[:, :-1]  # the last column is the phased flag
        carriers = np.flatnonzero((alleles > 0).any(axis=1) | (alleles < -2).any(axis=1))
        if len(carriers):
            calls = [Call(i, tuple(None if a == -1 else a for a in gt if a != -2), gq, dp)
                     for i, gt, gq, dp in zip(carriers.tolist(), alleles[carriers].tolist(),
                                              _format_values(record, "GQ", carriers),
                                              _format_values(record, "DP", carriers), strict=True)]
    qual = None if record.QUAL is None else _exact(record.QUAL)
    return Site(number, record.CHROM, record.POS, record.ID, record.REF, list(record.ALT), qual,
                record.INFO.get("DP"), calls)


@functools.lru_cache(maxsize=1 << 16)
def _exact(value: Any) -> float:
    """htslib keeps floats in 32 bits: the shortest decimal that is the same float32 (46.99, not 46.9900017)."""
    import numpy as np

    return float(str(np.float32(value)))


def _format_values(record: Any, key: str, rows: Any) -> list[Any]:
    """The FORMAT values of `key` of the samples `rows` (None where absent or missing)."""
    try:
        values = record.format(key)
    except KeyError:  # not declared in the header
        values = None
    if values is None:
        return [None] * len(rows)
    column = (values[rows, 0] if values.ndim == 2 else values[rows]).tolist()
    kind = values.dtype.kind
    if kind == "f":
        return [None if x != x else _exact(x) for x in column]
    if kind in "iu":
        return [None if x in INT32_MISSING else x for x in column]
    texts = (x.decode() if isinstance(x, bytes) else str(x) for x in column)
    return [None if t in ("", ".") else t for t in texts]


SITE_READERS: dict[str, SiteReader] = {"vcfpy": _vcfpy_sites, "cyvcf2": _cyvcf2_sites}


# ---------------------------------------------------------------- the mapping

def _scalar(value: Any) -> Any:
    """A one-element list (an undeclared FORMAT/INFO field) as its element."""
    return value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value


def _at_least(low: float, func: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        out = func(_scalar(value))
        if out < low:
            raise ValueError(f"{out} is less than {low}")
        return out
    return check


_QUALITY = _at_least(0, Field.number)
_DEPTH = _at_least(0, Field.integer)
_POSITION = _at_least(1, Field.integer)


def _quality(name: str, line: int, field: str, value: Any) -> float:
    """A non-negative finite number; values the reader already typed skip the conversion."""
    if (type(value) is float or type(value) is int) and 0 <= value < float("inf"):
        return float(value)
    return convert(name, line, field, _QUALITY, value)


def _depth(name: str, line: int, field: str, value: Any) -> int:
    if type(value) is int and value >= 0:
        return value
    return convert(name, line, field, _DEPTH, value)


def _symbolic(alt: str) -> bool:
    """`<DEL>`, `*`, breakends like `G]2:421681]`: alleles without letters to store."""
    return alt.startswith(("<", "*", ".")) or "[" in alt or "]" in alt


@dataclass
class _Mapper:
    """Turns Sites into Variants; remembers the site ids already used (ids must stay unique)."""

    name: str
    samples: tuple[str, ...]
    used: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)

    def variants(self, site: Site) -> Iterator[Variant]:
        name, line = self.name, site.line
        try:
            chromosome = Field.chromosome(site.chrom)
        except ValueError:
            self.skipped["records on other contigs"] += 1
            return
        position = convert(name, line, "POS", _POSITION, site.pos)
        ref = convert(name, line, "REF", Field.allele, site.ref)
        alts: list[str | None] = []
        for alt in site.alts:
            if _symbolic(alt):
                self.skipped["symbolic ALT alleles"] += 1
                alts.append(None)
                continue
            alt = convert(name, line, "ALT", Field.allele, alt)
            if alt == ref or alt in alts:
                raise DataError(name, line, "ALT", f"allele {alt!r} repeats REF or another ALT")
            alts.append(alt)
        keys = {index: self._site_key(site, chromosome, position, ref, alt)
                for index, alt in enumerate(alts, start=1) if alt is not None}
        qual = None if site.qual is None else _quality(name, line, "QUAL", site.qual)
        info_dp = None if site.info_dp is None else _depth(name, line, "INFO/DP", site.info_dp)
        letters = [ref, *(alt or "N" for alt in alts)]
        for call in site.calls:
            sample = self.samples[call.sample]
            for a in call.alleles:
                if a is not None and not 0 <= a <= len(alts):
                    raise DataError(name, line, f"GT of sample {sample}",
                                    f"allele index {a} is out of range: the record has {len(alts)} ALT allele(s)")
            genotype = "".join("N" if a is None else letters[a] for a in call.alleles)
            if qual is not None:
                quality = qual
            elif call.gq is not None:
                quality = _quality(name, line, f"GQ of sample {sample}", call.gq)
            else:
                quality = 0.0
            if call.dp is not None:
                depth = _depth(name, line, f"DP of sample {sample}", call.dp)
            else:
                depth = 0 if info_dp is None else info_dp
            for index in sorted({a for a in call.alleles if a and a in keys}):
                yield Variant(f"{keys[index]}:{sample}", chromosome, position, ref, letters[index],
                              genotype, quality, depth, VCF_FIRST_PATIENT_ID + call.sample)

    def _site_key(self, site: Site, chromosome: str, position: int, ref: str, alt: str) -> str:
        if site.ids:
            key = site.ids if len(site.alts) == 1 else f"{site.ids}-{alt}"
        else:
            key = f"{chromosome}-{position}-{ref}-{alt}"
        first = self.used.setdefault(key, site.line)
        if first != site.line:
            raise DataError(self.name, site.line, "ID", f"site {key!r} already appears on line {first}")
        return key


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
        try:
            yield from self._variants(self.reader)
        except _HtslibFailure as failure:
            self._explain(failure)
            raise

    def _variants(self, reader: str, until_line: int | None = None) -> Iterator[Variant]:
        name = str(self.path)
        with contextlib.closing(_numbered_lines(self.path)) as lines:
            header = _take_header(name, lines)
            mapper = _Mapper(name, header.samples)
            for site in SITE_READERS[reader](name, header, lines):
                yield from mapper.variants(site)
                if until_line is not None and site.line >= until_line:
                    return
        self.skipped = dict(mapper.skipped)

    def _explain(self, failure: _HtslibFailure) -> None:
        """Name the problem cyvcf2 failed on: re-read with vcfpy up to its line, then check the gzip stream
        (htslib decompresses ahead, so it meets a truncation some lines before the text ends)."""
        for _ in self._variants("vcfpy", until_line=failure.line):
            pass
        _check_gzip(self.path)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "files": {"vcf": str(self.path)}, "reader": self.reader}
        if self.skipped:
            out["skipped"] = self.skipped
        return out


def one_thousand_genomes(reader: str | None = None) -> VcfDataset:
    """The `1kg` data set: 629 samples, 381 chromosome-2 sites of the 1000 Genomes pilot."""
    return VcfDataset(one_thousand_genomes_path(), name="1kg", reader=reader)
