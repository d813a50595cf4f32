"""The minimal raw-driver code asking DynamoDB what the adapter asks (#17: `python -m bench.adapters`).

What a competent user of boto3's low-level client writes: one client with timeouts, expressions
written once with placeholders, a GetItem or one Query followed page by page, items turned into
the domain's objects by hand. The table names are those of the current load generation, read
once from the pointer item (see `core.py`), in the same namespace and with the same settings as
the backend. No consumed-capacity accounting, no error translation: that is the adapter's work.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Self

import boto3
from botocore.config import Config

from backends.kv.schema import Tables
from backends.kv.settings import LOCAL_CREDENTIALS, LOCAL_REGION, DynamoDBSettings
from models.entities import Diagnosis, Patient, PatientRecord, Variant

REGION_KEY = "chromosome = :c AND #pos BETWEEN :start AND :end"  # `position` is a reserved word


class RawDynamoDB:
    name = "dynamodb"

    def __init__(self, client: Any, tables: Tables, consistent: bool = False) -> None:
        self.client, self.tables = client, tables
        self.consistent = consistent  # the backend's consistent_read: ConsistentRead on table reads

    @classmethod
    def from_settings(cls) -> Self:
        settings = DynamoDBSettings.from_env()
        local = not settings.on_aws
        keys = settings.credentials() if all(settings.credentials()) else (LOCAL_CREDENTIALS if local else (None, None))
        client = boto3.client("dynamodb", endpoint_url=settings.endpoint_url,
                              region_name=settings.region or (LOCAL_REGION if local else None),
                              aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                              config=Config(connect_timeout=settings.timeout, read_timeout=6 * settings.timeout))
        prefix = settings.prefix()
        pointer = client.get_item(TableName=f"{prefix}meta", Key={"name": {"S": "current"}}, ConsistentRead=True)
        return cls(client, Tables.of(prefix, int(pointer["Item"]["generation"]["N"])), settings.consistent_read)

    def _query(self, **request: Any) -> list[dict[str, Any]]:
        page = self.client.query(**request)
        items = page["Items"]
        while "LastEvaluatedKey" in page:
            page = self.client.query(**request, ExclusiveStartKey=page["LastEvaluatedKey"])
            items += page["Items"]
        return items

    def variant_by_id(self, variant_id: str) -> Variant | None:
        item = self.client.get_item(TableName=self.tables.variants, Key={"variant_id": {"S": variant_id}},
                                    ConsistentRead=self.consistent).get("Item")
        return None if item is None else _variant(item)

    def patient_by_id(self, patient_id: int) -> PatientRecord | None:
        items = self._query(TableName=self.tables.patients, KeyConditionExpression="patient_id = :p",
                            ExpressionAttributeValues={":p": {"N": str(patient_id)}}, ConsistentRead=self.consistent)
        profile = next((i for i in items if i["sk"]["S"] == "PROFILE"), None)
        if profile is None:
            return None
        diagnoses = sorted((Diagnosis(int(i["diagnosis_id"]["N"]), patient_id, i["code"]["S"],
                                      dt.date.fromisoformat(i["diagnosed_on"]["S"]))
                            for i in items if i is not profile), key=lambda d: (d.diagnosed_on, d.code, d.diagnosis_id))
        patient = Patient(patient_id, profile["name"]["S"], int(profile["age"]["N"]), profile["sex"]["S"])
        return PatientRecord(patient, tuple(diagnoses))

    def variants_in_region(self, chromosome: str, start: int, end: int) -> list[Variant]:
        if start > end:
            return []
        items = self._query(TableName=self.tables.variants, IndexName="by_locus", KeyConditionExpression=REGION_KEY,
                            ExpressionAttributeNames={"#pos": "position"},
                            ExpressionAttributeValues={":c": {"S": chromosome}, ":start": {"N": str(start)},
                                                       ":end": {"N": str(end)}})
        return sorted(map(_variant, items), key=lambda v: (v.position, v.variant_id))

    def close(self) -> None:
        self.client.close()


def _variant(i: dict[str, Any]) -> Variant:
    return Variant(i["variant_id"]["S"], i["chromosome"]["S"], int(i["position"]["N"]), i["reference_allele"]["S"],
                   i["alternate_allele"]["S"], i["genotype"]["S"], float(i["quality"]["N"]), int(i["depth"]["N"]),
                   int(i["patient_id"]["N"]) if "patient_id" in i else None)


RAW = {"dynamodb": RawDynamoDB}
