"""Entities <-> DynamoDB items in the wire format ({"N": "35.1"}, {"S": "AG"}), numbers exact.

DynamoDB numbers are decimal strings of up to 38 digits. boto3's resource layer turns them
into `Decimal`, and the lecture's Lambda then turns every Decimal into a float, so a depth
of 50 comes back as 50.0 and an id above 2**53 silently changes. Here each attribute is
decoded by the type its entity field declares: `int` fields parse the decimal string as an
int (any size, never through float), `float` fields as a float. Floats are written as
`repr(x)`, the shortest decimal that reads back as the same float, so they round-trip
bit for bit and compare on the server in the same order as in Python. Dates are ISO
strings (they sort as dates). A None is an absent attribute (DynamoDB items are sparse).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import types
import typing
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from backends.base import BackendError

T = TypeVar("T")
AttributeValue = dict[str, str]
Item = dict[str, AttributeValue]


def int_from_wire(text: str) -> int:
    """A DynamoDB number as an exact int ("50" -> 50; "1E+2" -> 100; "2.5" is an error)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = Decimal(text)
        if value == value.to_integral_value():
            return int(value)
    except InvalidOperation:
        pass
    raise BackendError(f"dynamodb: expected an integer, got the number {text!r}")


MAX_DIGITS = 38  # DynamoDB keeps up to 38 significant digits ...
MAX_MAGNITUDE, MIN_MAGNITUDE = 1e126, 1e-130  # ... of magnitudes in [1E-130, 9.99E+125] (or 0)


def int_to_wire(value: int) -> str:
    """An int as DynamoDB number text; refused (as DynamoDB refuses it) beyond 38 significant digits.
    Checked here because not every emulator checks (moto stores 45 digits)."""
    text = str(value)
    if len(text.lstrip("-").rstrip("0")) > MAX_DIGITS:
        raise BackendError(f"dynamodb: cannot store {text[:12]}... ({len(text.lstrip('-'))} digits): "
                           f"DynamoDB numbers keep at most {MAX_DIGITS} significant digits")
    return text


def float_to_wire(value: float) -> str:
    """The shortest decimal text that reads back as the same float (finite, within DynamoDB's range)."""
    if not math.isfinite(value) or (value and not MIN_MAGNITUDE <= abs(value) < MAX_MAGNITUDE):
        raise BackendError(f"dynamodb: cannot store {value!r}: DynamoDB numbers are finite, "
                           f"between {MIN_MAGNITUDE:g} and {MAX_MAGNITUDE:g} in magnitude")
    return repr(float(value))


# type -> (attribute type tag, Python -> wire text, wire text -> Python)
_CONVERTERS: dict[type, tuple[str, Callable[[Any], str], Callable[[str], Any]]] = {
    str: ("S", str, str),
    int: ("N", int_to_wire, int_from_wire),
    float: ("N", float_to_wire, float),
    dt.date: ("S", dt.date.isoformat, dt.date.fromisoformat),
}


def to_attribute(value: Any) -> AttributeValue:
    """One Python value (str, int, float, date) as a DynamoDB attribute value."""
    converter = _CONVERTERS.get(dt.date if isinstance(value, dt.date) else type(value))
    if converter is None:
        raise BackendError(f"dynamodb: cannot store a {type(value).__name__} value")
    tag, write, _ = converter
    return {tag: write(value)}


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    tag: str
    write: Callable[[Any], str]
    read: Callable[[str], Any]
    optional: bool


class EntityCodec(Generic[T]):
    """Encodes one entity dataclass as an item and decodes it back, by its declared field types."""

    def __init__(self, cls: type[T]) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls)
        self.fields = tuple(self._field(f.name, hints[f.name]) for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        self.names = tuple(f.name for f in self.fields)
        self._plan = tuple((f.name, f.tag, f.read, f.optional) for f in self.fields)  # decode's hot loop

    @staticmethod
    def _field(name: str, hint: Any) -> _Field:
        args = typing.get_args(hint)
        optional = isinstance(hint, types.UnionType) and type(None) in args
        base = next(a for a in args if a is not type(None)) if optional else hint
        tag, write, read = _CONVERTERS[base]
        return _Field(name, tag, write, read, optional)

    def encode(self, obj: T) -> Item:
        item: Item = {}
        for f in self.fields:
            value = getattr(obj, f.name)
            if value is not None:
                item[f.name] = {f.tag: f.write(value)}
        return item

    def decode(self, item: Item) -> T:
        """The entity in `item` (attributes other than its fields are ignored)."""
        values = []
        for name, tag, read, optional in self._plan:
            attribute = item.get(name)
            values.append(None if attribute is None and optional else read(attribute[tag]))  # type: ignore[index]
        return self.cls(*values)


def text_of(item: Item, name: str) -> str:
    return item[name]["S"]


def int_of(item: Item, name: str) -> int:
    return int_from_wire(item[name]["N"])
