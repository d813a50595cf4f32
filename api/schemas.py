"""The API's JSON shapes (for the OpenAPI document) and the answer types of the catalog's reads.

`/genomics` speaks the lecture's CSV field names (`ID`, `Chromosome`, ...); `/queries/{name}`
answers in the catalog's canonical form (the one `mmbench query --json` prints and the
conformance suite compares), whose field names are the domain's.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field

from backends.base import Backend
from models.catalog import Q
from models.entities import (
    CodeCount,
    LabResult,
    Patient,
    PatientRecord,
    SharedDiagnoses,
    Variant,
)


class GenomicsVariant(BaseModel):
    """One variant call, with the genomics CSV's field names; numbers as JSON numbers."""

    model_config = ConfigDict(title="GenomicsVariant")
    ID: str
    Chromosome: str
    Position: int
    Reference_Allele: str
    Alternate_Allele: str
    Genotype: str
    Quality: float
    Depth: int
    Patient_ID: int | None = Field(None, description="the patient the sample came from (the samples CSV), if known")


class GenomicsPage(BaseModel):
    """One page of variant calls in genomic order (chromosome, position, ID). `next` is an
    opaque token for the following page (null on the last page): all pages together hold
    every call exactly once."""

    items: list[GenomicsVariant]
    count: int
    next: str | None


class ErrorBody(BaseModel):
    error: str = Field(description="what went wrong, one line")
    backend: str | None = None
    detail: list[dict[str, Any]] | None = None


class VariantOut(BaseModel):
    model_config = ConfigDict(title="Variant")
    variant_id: str
    chromosome: str
    position: int
    reference_allele: str
    alternate_allele: str
    genotype: str
    quality: float
    depth: int
    patient_id: int | None


class PatientOut(BaseModel):
    model_config = ConfigDict(title="Patient")
    patient_id: int
    name: str
    age: int
    sex: str


class DiagnosisOut(BaseModel):
    model_config = ConfigDict(title="Diagnosis")
    diagnosis_id: int
    patient_id: int
    code: str
    diagnosed_on: dt.date


class PatientRecordOut(PatientOut):
    model_config = ConfigDict(title="PatientRecord")
    diagnoses: list[DiagnosisOut]


class LabResultOut(BaseModel):
    model_config = ConfigDict(title="LabResult")
    result_id: int
    patient_id: int
    test_name: str
    value: float
    unit: str
    taken_on: dt.date


class CodeCountOut(BaseModel):
    model_config = ConfigDict(title="CodeCount")
    code: str
    patients: int


class SharedDiagnosesOut(BaseModel):
    model_config = ConfigDict(title="SharedDiagnoses")
    patient_id: int
    shared: int


OUT_MODELS: dict[type, type[BaseModel]] = {
    Variant: VariantOut, Patient: PatientOut, PatientRecord: PatientRecordOut, LabResult: LabResultOut,
    CodeCount: CodeCountOut, SharedDiagnoses: SharedDiagnosesOut,
}


def answer_type(query: Q) -> tuple[type, bool, bool]:
    """(entity class, is a list, may be None) of a read query, from the Backend method's return type."""
    ret = typing.get_type_hints(getattr(Backend, str(query)))["return"]
    optional = False
    if typing.get_origin(ret) in (Union, types.UnionType):
        args = [a for a in typing.get_args(ret) if a is not type(None)]
        optional, ret = True, args[0]
    if typing.get_origin(ret) is list:
        return typing.get_args(ret)[0], True, optional
    return ret, False, optional


def answer_model(query: Q) -> Any:
    """The pydantic type of a read query's canonical answer (for the OpenAPI document)."""
    cls, many, optional = answer_type(query)
    model: Any = OUT_MODELS[cls]
    if many:
        model = list[model]  # type: ignore[valid-type]
    if optional:
        model = model | None
    return model
