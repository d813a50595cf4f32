"""Query and Scan requests built once per query shape; a call only adds the table and the values.

A `Shape` holds the expressions of one access path, written with placeholders (`#name` for
every attribute, so reserved words such as `name` or `count` never clash; `:value` for every
value, so nothing is ever spliced into an expression). Building them once, instead of running
boto3's condition builder on every call, is what a competent user of the low-level client does,
and keeps the client's CPU per request small (#17).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from backends.kv.codec import AttributeValue


@dataclass(frozen=True)
class Shape:
    operation: Literal["query", "scan"]
    key: str | None = None                        # KeyConditionExpression (Query)
    filter: str | None = None                     # FilterExpression: trims what is returned, not what is read
    names: Mapping[str, str] = field(default_factory=dict)   # placeholder -> attribute name
    index: str | None = None                      # a GSI, else the table
    fields: tuple[str, ...] = ()                  # ProjectionExpression attributes (placeholders made here)
    _base: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base: dict[str, Any] = {"ReturnConsumedCapacity": "TOTAL"}
        names = dict(self.names)
        if self.index:
            base["IndexName"] = self.index
        if self.key:
            base["KeyConditionExpression"] = self.key
        if self.filter:
            base["FilterExpression"] = self.filter
        if self.fields:
            projected = {f"#p{i}": name for i, name in enumerate(self.fields)}
            base["ProjectionExpression"] = ", ".join(projected)
            names.update(projected)
        if names:
            base["ExpressionAttributeNames"] = names
        object.__setattr__(self, "_base", base)

    def request(self, table: str, values: Mapping[str, AttributeValue] | None = None) -> dict[str, Any]:
        """The request for `table` with these `:placeholder` values (a new dict: pages add their start key)."""
        request = {"TableName": table, **self._base}
        if values:
            request["ExpressionAttributeValues"] = values
        return request
