"""DynamoDB's "Import from S3" for a CSV file, and a Scan with a filter over the imported table.

`import_table` does what the console's import does: a new table keyed on one column (the
lecture's `ID`), one item per CSV row, the header's names as attribute names, and **every
value a string** — AWS's CSV import has no types, so `Depth` arrives as `"52"`. `typed=True`
stores cells that read as numbers as numbers (N) instead. Empty cells become no attribute.

Two ways to do it:
- `ImportTable` (method `import`, the default on AWS): DynamoDB itself reads the object from
  S3. Strings: the CSV is imported as it is. Typed: the rows are first written to S3 as
  DynamoDB JSON (with N for numbers) next to the CSV, and that is imported.
- The same effect with writes (method `put`, the default for a local engine: moto accepts
  `ImportTable` but imports nothing from a CSV, and dynalite has no `ImportTable`): create the
  table (on-demand), then `BatchWriteItem` in requests of 25 with unprocessed items re-sent.

The whole CSV is read and checked (header, column counts, key present and unique) before the
table is touched. An existing table is only replaced with `replace=True`. The table name
carries the data namespace (`genomics` -> `genomics_lecture`).

`scan_table` runs the lecture's Scan with a filter (`Depth > 50`), following every page (the
lecture's Lambda reads only the first 1 MB). A literal's type picks what it compares with:
`Depth > 50` compares numbers, `Depth > '50'` strings (as the console's filter with Type
String does); DynamoDB never compares a number with a string, so on the string-typed table
`Depth > 50` matches nothing, and `Depth > '50'` compares text: `"6" > "50"`, `"100" < "50"`.
"""

from __future__ import annotations

import csv
import json
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from backends.base import namespaced, redact_url
from etl import storage
from etl.aws import CloudError, Endpoint, ServiceUnavailable, errors
from etl.crawler import sniff_delimiter, value_type
from etl.predicate import parse, to_dynamodb
from models.errors import DataError, UsageError, first_line

METHODS = ("auto", "import", "put")
IMPORT_TIMEOUT_S = 1800.0


@dataclass
class ImportResult:
    table: str
    items: int
    method: str          # import (ImportTable) or put (BatchWriteItem)
    typed: bool
    key: str
    attributes: list[str]
    engine: str

    def describe(self) -> dict[str, Any]:
        return {"table": self.table, "items": self.items, "method": self.method, "typed": self.typed,
                "key": self.key, "attributes": self.attributes, "engine": self.engine}


def _settings() -> Any:
    from pydantic import ValidationError

    from backends.kv.settings import DynamoDBSettings

    try:
        return DynamoDBSettings()
    except ValidationError as exc:  # a bad MMBENCH_DYNAMODB_* value
        raise UsageError(f"dynamodb settings: {first_line(exc)}") from None


def dynamodb_client() -> tuple[Any, Endpoint, bool]:
    """The DynamoDB client of the kv backend's settings (MMBENCH_DYNAMODB_URL), and whether it is AWS."""
    import boto3
    from botocore.config import Config

    from backends.kv.settings import LOCAL_CREDENTIALS, LOCAL_REGION

    s = _settings()
    ep = Endpoint("dynamodb", s.endpoint_url)
    kwargs: dict[str, Any] = {
        "config": Config(connect_timeout=s.timeout, read_timeout=30 * s.timeout,
                         retries={"mode": "standard", "max_attempts": 2 if ep.local else 5}),
        "region_name": s.region or (None if s.on_aws else LOCAL_REGION),
    }
    if s.endpoint_url:
        kwargs["endpoint_url"] = s.endpoint_url
    if s.access_key_id and s.secret_access_key:
        kwargs.update(aws_access_key_id=s.access_key_id, aws_secret_access_key=s.secret_access_key)
    elif not s.on_aws:
        kwargs.update(aws_access_key_id=LOCAL_CREDENTIALS[0], aws_secret_access_key=LOCAL_CREDENTIALS[1])
    from botocore.exceptions import BotoCoreError

    try:
        return boto3.client("dynamodb", **kwargs), ep, s.on_aws
    except BotoCoreError as exc:  # NoRegionError
        raise CloudError(f"dynamodb: {first_line(exc)}; set MMBENCH_DYNAMODB_REGION or AWS_REGION") from None


def table_name(base: str) -> str:
    name = namespaced(base)
    if not (3 <= len(name) <= 255) or not all(c.isalnum() or c in "_.-" for c in name):
        raise UsageError(f"--table {base!r}: DynamoDB table names are 3-255 letters, digits, _ . or -")
    return name


# ---------------------------------------------------------------- reading and checking the CSV

@dataclass
class _Rows:
    header: list[str]
    key: str
    delimiter: str
    items: list[dict[str, Any]] = field(default_factory=list)  # typed Python values: str or Decimal
    key_numeric: bool = True


def _read(files: list[str], key: str | None, typed: bool) -> _Rows:
    rows: _Rows | None = None
    seen: set[str] = set()
    for location in files:
        lines = list(storage.open_lines(location))
        if not lines:
            continue
        delimiter = sniff_delimiter(lines[:20], location)
        reader = csv.reader(lines, delimiter=delimiter, quotechar='"', strict=True)
        try:
            header = [h.strip() for h in next(reader)]
            if rows is None:
                if len(set(header)) != len(header) or not all(header):
                    raise DataError(location, 1, None, "the header must name every column once")
                chosen = key or header[0]
                if chosen not in header:
                    raise UsageError(f"--key {chosen!r} is not a column of {location} ({', '.join(header)})")
                rows = _Rows(header, chosen, delimiter)
            elif header != rows.header:
                raise DataError(location, 1, None, f"header differs from {files[0]}'s")
            k = rows.header.index(rows.key)
            for row in reader:
                if not row:
                    continue
                if len(row) != len(rows.header):
                    raise DataError(location, reader.line_num, None,
                                    f"expected {len(rows.header)} columns, found {len(row)}")
                key_value = row[k].strip()
                if not key_value:
                    raise DataError(location, reader.line_num, rows.key, "the key is empty")
                if key_value in seen:
                    raise DataError(location, reader.line_num, rows.key, f"duplicate key {key_value!r}")
                seen.add(key_value)
                if value_type(key_value) != "bigint":
                    rows.key_numeric = False
                item: dict[str, Any] = {}
                for name, cell in zip(rows.header, row, strict=True):
                    if cell == "":
                        continue  # an empty cell is no attribute
                    item[name] = Decimal(cell.strip()) if typed and value_type(cell) in ("bigint", "double") else cell
                rows.items.append(item)
        except csv.Error as exc:
            raise DataError(location, reader.line_num, None, f"malformed CSV: {exc}") from None
    if rows is None:
        raise UsageError(f"{files[0]}: empty file")
    if typed and rows.key_numeric:
        for item in rows.items:
            item[rows.key] = Decimal(str(item[rows.key]).strip())
    return rows


# ---------------------------------------------------------------- importing

def import_table(source: str, table: str = "genomics", *, key: str | None = None, typed: bool = False,
                 method: str = "auto", replace: bool = False) -> ImportResult:
    if method not in METHODS:
        raise UsageError(f"--method {method!r}: use {', '.join(METHODS)}")
    name = table_name(table)
    files = storage.data_files(source)
    rows = _read(files, key, typed)
    client, ep, on_aws = dynamodb_client()
    chosen = method if method != "auto" else ("import" if on_aws else "put")
    if chosen == "import" and not storage.is_s3(source):
        raise UsageError("--method import reads from S3: give an s3://bucket/key source")
    key_type = "N" if typed and rows.key_numeric else "S"
    with errors("dynamodb", ep, name):
        exists = _exists(client, name)
        if exists and not replace:
            raise UsageError(f"table {name!r} already exists at {ep.describe()}; --replace drops and re-imports it")
        if exists:
            client.delete_table(TableName=name)
            client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        creation = {"TableName": name, "KeySchema": [{"AttributeName": rows.key, "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": rows.key, "AttributeType": key_type}],
                    "BillingMode": "PAY_PER_REQUEST"}
        if chosen == "import":
            _import(client, source, rows, typed, creation)
        else:
            client.create_table(**creation)
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
            _put(client, name, rows.items)
    return ImportResult(name, len(rows.items), chosen, typed, rows.key, rows.header,
                        redact_url(ep.url) if ep.url else "AWS DynamoDB")


def _exists(client: Any, name: str) -> bool:
    try:
        client.describe_table(TableName=name)
        return True
    except client.exceptions.ResourceNotFoundException:
        return False


def _put(client: Any, name: str, items: list[dict[str, Any]]) -> None:
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()
    for i in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": {k: ser.serialize(v) for k, v in item.items()}}} for item in items[i:i + 25]]
        pending = {name: requests}
        for attempt in range(12):
            out = client.batch_write_item(RequestItems=pending)
            pending = out.get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.random())
        else:
            raise CloudError(f"dynamodb: {name}: items still unprocessed after 12 attempts (throttled)")


def _import(client: Any, source: str, rows: _Rows, typed: bool, creation: dict[str, Any]) -> None:
    """ImportTable from S3, then wait for it to finish."""
    url = storage.S3Url.parse(source)
    staged: storage.S3Url | None = None
    if typed:  # CSV imports carry no types: import DynamoDB JSON written next to the CSV
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        staged = storage.S3Url(url.bucket, url.key.rstrip("/") + ".mmbench-typed/items.json")
        body = "".join(json.dumps({"Item": {k: ser.serialize(v) for k, v in item.items()}}) + "\n"
                       for item in rows.items)
        s3, s3ep = storage.s3_client()
        with errors("s3", s3ep, str(staged)):
            s3.put_object(Bucket=staged.bucket, Key=staged.key, Body=body.encode())
        bucket_source = {"S3Bucket": staged.bucket, "S3KeyPrefix": staged.key}
        params: dict[str, Any] = {"InputFormat": "DYNAMODB_JSON"}
    else:
        bucket_source = {"S3Bucket": url.bucket, "S3KeyPrefix": url.key}
        params = {"InputFormat": "CSV", "InputFormatOptions": {"Csv": {"Delimiter": rows.delimiter}}}
    try:
        arn = client.import_table(S3BucketSource=bucket_source, InputCompressionType="NONE",
                                  TableCreationParameters=creation, **params)["ImportTableDescription"]["ImportArn"]
        deadline = time.monotonic() + IMPORT_TIMEOUT_S
        while True:
            d = client.describe_import(ImportArn=arn)["ImportTableDescription"]
            status = d.get("ImportStatus")
            if status == "COMPLETED":
                break
            if status in ("FAILED", "CANCELLED"):
                raise CloudError(f"dynamodb: ImportTable {status.lower()}: {d.get('FailureCode', '')} "
                                 f"{d.get('FailureMessage', '')}".strip())
            if time.monotonic() > deadline:
                raise CloudError(f"dynamodb: ImportTable still {status} after {IMPORT_TIMEOUT_S:.0f} s ({arn})")
            time.sleep(2.0)
    finally:
        if staged is not None:
            s3, s3ep = storage.s3_client()
            with errors("s3", s3ep, str(staged)):
                s3.delete_object(Bucket=staged.bucket, Key=staged.key)


# ---------------------------------------------------------------- scanning

@dataclass
class ScanResult:
    table: str
    where: str
    items: list[dict[str, Any]]   # attributes as JSON values: S -> str, N -> int or float
    scanned: int                  # items DynamoDB read (ScannedCount over all pages)
    pages: int
    types: dict[str, str]         # attribute -> the DynamoDB types seen (S, N, S+N)

    def describe(self) -> dict[str, Any]:
        return {"table": self.table, "where": self.where, "count": len(self.items), "scanned": self.scanned,
                "pages": self.pages, "attribute_types": self.types, "items": self.items}


def filter_request(where: str | None) -> dict[str, Any]:
    """The FilterExpression part of a Scan request for `where` (placeholders and typed values,
    nothing spliced); {} without a filter."""
    from boto3.dynamodb.conditions import ConditionExpressionBuilder
    from boto3.dynamodb.types import TypeSerializer

    if not where:
        return {}
    built = ConditionExpressionBuilder().build_expression(to_dynamodb(parse(where, None)))
    ser = TypeSerializer()
    return {"FilterExpression": built.condition_expression,
            "ExpressionAttributeNames": built.attribute_name_placeholders,
            "ExpressionAttributeValues": {k: ser.serialize(v) for k, v in built.attribute_value_placeholders.items()}}


def scan_table(table: str, where: str | None = None) -> ScanResult:
    """Scan `table` (namespaced) with an optional filter, every page; items sorted by key."""
    from boto3.dynamodb.types import TypeDeserializer

    name = table_name(table)
    kwargs: dict[str, Any] = {"TableName": name, **filter_request(where)}
    client, ep, _ = dynamodb_client()
    de = TypeDeserializer()
    items: list[dict[str, Any]] = []
    types: dict[str, set[str]] = {}
    scanned = pages = 0
    with errors("dynamodb", ep, name):
        try:
            key = client.describe_table(TableName=name)["Table"]["KeySchema"][0]["AttributeName"]
        except client.exceptions.ResourceNotFoundException:
            raise UsageError(f"no table {name!r} at {ep.describe()}; import it first: "
                             f"mmbench import-table s3://bucket/genomics.csv --table {table}") from None
        for page in client.get_paginator("scan").paginate(**kwargs):
            pages += 1
            scanned += page.get("ScannedCount", 0)
            for raw in page.get("Items", []):
                for attr, v in raw.items():
                    types.setdefault(attr, set()).update(v)
                items.append({k: _plain(de.deserialize(v)) for k, v in raw.items()})
    items.sort(key=lambda it: _natural(it.get(key)))
    return ScanResult(name, where or "", items, scanned, pages, {k: "+".join(sorted(v)) for k, v in sorted(types.items())})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _natural(value: Any) -> tuple[int, Any]:
    """Keys in natural order: numbers (or numeric strings) by value, then other strings."""
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))




__all__ = ["ImportResult", "ScanResult", "ServiceUnavailable", "filter_request", "import_table", "scan_table"]
