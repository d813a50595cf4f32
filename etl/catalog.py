"""The Glue Data Catalog: databases and tables (columns with Hive types, location, format).

Tables are written as a Glue crawler writes them (the lecture's "Table details"): CSV as
`TextInputFormat` / `LazySimpleSerDe` with `classification=csv`, the delimiter and
`skip.header.line.count`; Parquet as `MapredParquetInputFormat` / `ParquetHiveSerDe`.
Database names carry the data namespace (`genomics_db` -> `genomics_db_lecture`), like every
name mmbench creates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from backends.base import namespace, namespaced
from etl.aws import CloudError, Endpoint, client, endpoint, errors
from models.errors import UsageError

GLUE_TYPES = ("bigint", "double", "boolean", "date", "string")
_NAME = re.compile(r"[a-z0-9_]{1,255}")

FORMATS: dict[str, dict[str, Any]] = {
    "csv": {
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
    },
    "parquet": {
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
    },
}


@dataclass(frozen=True)
class Column:
    name: str   # as Glue stores it: lower case
    type: str   # a Hive type: bigint, double, boolean, date, string
    header: str = ""  # the name in the file's header, as written there (case kept)


@dataclass
class Table:
    database: str
    name: str
    columns: list[Column]
    location: str
    classification: str               # csv or parquet
    delimiter: str = ","
    header: bool = True
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def qualified(self) -> str:
        return f"{self.database}.{self.name}"

    def column(self, name: str) -> Column | None:
        """The column called `name`, case-insensitively (as Glue, Hive and Spark resolve names)."""
        low = name.lower()
        return next((c for c in self.columns if c.name == low), None)

    def to_input(self) -> dict[str, Any]:
        fmt = FORMATS[self.classification]
        serde_params = {"field.delim": self.delimiter} if self.classification == "csv" else {}
        params = {"classification": self.classification, "typeOfData": "file", **self.parameters}
        if self.classification == "csv":
            params.update({"delimiter": self.delimiter, "columnsOrdered": "true", "areColumnsQuoted": "false",
                           "skip.header.line.count": "1" if self.header else "0"})
        return {
            "Name": self.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": params,
            "StorageDescriptor": {
                "Columns": [{"Name": c.name, "Type": c.type,
                             **({"Parameters": {"mmbench.header": c.header}} if c.header and c.header != c.name else {})}
                            for c in self.columns],
                "Location": self.location,
                "InputFormat": fmt["InputFormat"],
                "OutputFormat": fmt["OutputFormat"],
                "Compressed": False,
                "SerdeInfo": {"SerializationLibrary": fmt["SerializationLibrary"], "Parameters": serde_params},
                "Parameters": params,
            },
        }

    @classmethod
    def from_glue(cls, database: str, t: dict[str, Any]) -> Table:
        sd = t.get("StorageDescriptor") or {}
        params = dict(t.get("Parameters") or {})
        classification = params.get("classification", "").lower()
        if classification not in FORMATS:
            raise UsageError(f"{database}.{t.get('Name')}: classification {classification or 'none'!r} is not "
                             "one mmbench can read (csv, parquet)")
        columns = [Column(c["Name"].lower(), c.get("Type", "string").lower(),
                          (c.get("Parameters") or {}).get("mmbench.header", c["Name"]))
                   for c in sd.get("Columns", [])]
        return cls(database=database, name=t["Name"], columns=columns, location=sd.get("Location", ""),
                   classification=classification,
                   delimiter=(sd.get("SerdeInfo", {}).get("Parameters") or {}).get("field.delim", params.get("delimiter", ",")),
                   header=params.get("skip.header.line.count", "1") != "0",
                   parameters={k: v for k, v in params.items() if k.startswith(("recordCount", "mmbench.", "sizeKey"))})

    def describe(self) -> dict[str, Any]:
        return {"database": self.database, "table": self.name, "location": self.location,
                "classification": self.classification,
                **({"delimiter": self.delimiter, "header": self.header} if self.classification == "csv" else {}),
                "columns": [{"name": c.name, "type": c.type} for c in self.columns],
                **({"records": int(self.parameters["recordCount"])} if "recordCount" in self.parameters else {})}


def glue_name(text: str, what: str = "table") -> str:
    """A name Glue accepts, from a file or bucket name: lower case, other characters as `_`."""
    name = re.sub(r"[^a-z0-9_]", "_", text.lower()).strip("_") or what
    return name[:255]


def check_name(name: str, what: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(f"{what} {name!r}: use lower-case letters, digits and _ (Glue's rule)")
    return name


class Catalog:
    """The Data Catalog at MMBENCH_GLUE_URL (the local moto server by default)."""

    def __init__(self, ep: Endpoint | None = None) -> None:
        self.ep = ep or endpoint("glue")
        self.glue = client("glue", self.ep)

    @staticmethod
    def database_name(base: str) -> str:
        """`base` qualified by the data namespace (`genomics_db` -> `genomics_db_lecture`)."""
        return namespaced(check_name(base, "database"))

    def ensure_database(self, name: str) -> None:
        with errors("glue", self.ep, f"database {name}"):
            try:
                self.glue.get_database(Name=name)
            except self.glue.exceptions.EntityNotFoundException:
                self.glue.create_database(DatabaseInput={"Name": name, "Description": "created by mmbench"})

    def put_table(self, table: Table) -> bool:
        """Create or replace the table's definition; True if it was new."""
        self.ensure_database(table.database)
        spec = table.to_input()
        with errors("glue", self.ep, table.qualified):
            try:
                self.glue.get_table(DatabaseName=table.database, Name=table.name)
            except self.glue.exceptions.EntityNotFoundException:
                self.glue.create_table(DatabaseName=table.database, TableInput=spec)
                return True
            self.glue.update_table(DatabaseName=table.database, TableInput=spec)
            return False

    def table(self, qualified: str) -> Table:
        """`database.table` (the database as the user names it, without the namespace)."""
        db, dot, name = qualified.partition(".")
        if not dot or not db or not name:
            raise UsageError(f"--table {qualified!r}: expected DATABASE.TABLE, e.g. genomics_db.genomics")
        database = self.database_name(db)
        with errors("glue", self.ep, f"{database}.{name}"):
            try:
                found = self.glue.get_table(DatabaseName=database, Name=name.lower())["Table"]
            except self.glue.exceptions.EntityNotFoundException:
                raise UsageError(f"no table {name.lower()!r} in database {database!r} of the Data Catalog "
                                 f"({self.ep.describe()}); run `mmbench etl crawl` first, or see `mmbench etl tables`") from None
        return Table.from_glue(database, found)

    def tables(self, database: str | None = None) -> list[Table]:
        """The tables of one database, or of every database of this data namespace; tables in
        formats mmbench cannot read are left out."""
        with errors("glue", self.ep):
            if database is None:  # this namespace's databases (every one in the default namespace)
                ns = namespace()
                dbs = [d["Name"] for page in self.glue.get_paginator("get_databases").paginate()
                       for d in page["DatabaseList"] if not ns or d["Name"].endswith(f"_{ns}")]
            else:
                dbs = [self.database_name(database)]
            out: list[Table] = []
            for db in sorted(dbs):
                try:
                    pages = list(self.glue.get_paginator("get_tables").paginate(DatabaseName=db))
                except self.glue.exceptions.EntityNotFoundException:
                    if database is not None:
                        raise UsageError(f"no database {db!r} in the Data Catalog ({self.ep.describe()})") from None
                    continue
                for page in pages:
                    for t in page["TableList"]:
                        try:
                            out.append(Table.from_glue(db, t))
                        except (UsageError, KeyError):
                            continue
        return sorted(out, key=lambda t: (t.database, t.name))


__all__ = ["GLUE_TYPES", "Catalog", "CloudError", "Column", "Table", "glue_name"]
