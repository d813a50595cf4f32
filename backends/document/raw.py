"""The raw-driver baseline of the document model, for the adapter-overhead benchmark (#17).

What a competent pymongo user writes to ask the engine what `MongoBackend` asks: one client,
collection handles kept, default codec options, `find_one` for one document, a `find` with
a sort for a region, documents turned into the same domain objects. Same settings and
namespace as the backend (`MongoSettings`, database `namespaced(database)`), data already
loaded by it.
"""

from __future__ import annotations

from typing import Self

from pymongo import MongoClient

from backends.base import namespaced
from backends.document.settings import MongoSettings
from models.entities import Diagnosis, Patient, PatientRecord, Variant


def _variant(d: dict) -> Variant:
    return Variant(d["_id"], d["chromosome"], d["position"], d["reference_allele"], d["alternate_allele"],
                   d["genotype"], d["quality"], d["depth"], d["patient_id"])


class RawMongo:
    name = "mongodb"

    def __init__(self, client: MongoClient, database: str) -> None:
        self.client = client
        db = client[database]
        self.variants, self.patients = db["variants"], db["patients"]

    @classmethod
    def from_settings(cls) -> Self:
        settings = MongoSettings()
        client: MongoClient = MongoClient(settings.url, **settings.client_options())
        return cls(client, namespaced(settings.database))

    def variant_by_id(self, variant_id: str) -> Variant | None:
        d = self.variants.find_one({"_id": variant_id})
        return _variant(d) if d is not None else None

    def patient_by_id(self, patient_id: int) -> PatientRecord | None:
        d = self.patients.find_one({"_id": patient_id})
        if d is None:
            return None
        diagnoses = tuple(Diagnosis(x["diagnosis_id"], patient_id, x["code"], x["diagnosed_on"].date())
                          for x in d["diagnoses"])
        return PatientRecord(Patient(patient_id, d["name"], d["age"], d["sex"]), diagnoses)

    def variants_in_region(self, chromosome: str, start: int, end: int) -> list[Variant]:
        cursor = self.variants.find({"chromosome": chromosome, "position": {"$gte": start, "$lte": end}},
                                    sort=[("position", 1), ("_id", 1)])
        return [_variant(d) for d in cursor]

    def close(self) -> None:
        self.client.close()


RAW = {"mongodb": RawMongo}
