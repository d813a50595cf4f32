"""A row filter written as SQL text, parsed and type-checked, never spliced into a query.

`parse(text, columns)` parses the text with sqlglot and accepts it only if it is ONE boolean
expression built from:

    comparisons  = != <> < <= > >=      between a column and a literal, or two columns
    AND  OR  NOT  ( )
    col [NOT] BETWEEN lit AND lit       col [NOT] IN (lit, ...)       col IS [NOT] NULL
    col [NOT] LIKE 'pattern'            (string columns; % and _ as wildcards)

over the table's own columns (names matched case-insensitively, as Glue, Hive and Spark do;
"quoted" names too), with literals that are numbers, 'strings', TRUE / FALSE, or
DATE 'YYYY-MM-DD'. Both sides of a comparison must have comparable types (numbers with
numbers, strings with strings, dates with dates or ISO date strings): `Chromosome = 'X'` on a
column the crawler typed bigint is refused instead of failing, or matching nothing, later.
Anything else (sub-queries, function calls, arithmetic, several statements, a bare column
that is not boolean) is refused with a one-line error naming what is wrong.

The checked tree (`Pred`) is then compiled to each engine's own expression objects — DuckDB's
Python expression API, Spark `Column`s, boto3's DynamoDB conditions — with the literals as
values: no SQL text is ever built from the user's input.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from models.errors import UsageError

INT64 = (-(2**63), 2**63 - 1)
NUMERIC = ("bigint", "double")
ANY = "any"  # a schemaless attribute (DynamoDB): its type is whatever each item holds
_OPS = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}


# ---------------------------------------------------------------- the checked tree

@dataclass(frozen=True)
class Col:
    name: str      # the catalog's name (lower case)
    source: str    # the name in the data (the file's header, the item's attribute)
    type: str      # bigint, double, boolean, date, string, or ANY


@dataclass(frozen=True)
class Lit:
    value: Any     # int, float, str, bool, datetime.date
    type: str


Operand = Col | Lit


@dataclass(frozen=True)
class Cmp:
    op: str        # = != < <= > >=
    left: Operand
    right: Operand


@dataclass(frozen=True)
class And:
    left: Pred
    right: Pred


@dataclass(frozen=True)
class Or:
    left: Pred
    right: Pred


@dataclass(frozen=True)
class Not:
    arg: Pred


@dataclass(frozen=True)
class IsNull:
    arg: Col
    negated: bool = False


@dataclass(frozen=True)
class InList:
    arg: Col
    values: tuple[Lit, ...]
    negated: bool = False


@dataclass(frozen=True)
class Between:
    arg: Col
    low: Lit
    high: Lit
    negated: bool = False


@dataclass(frozen=True)
class Like:
    arg: Col
    pattern: str
    negated: bool = False


@dataclass(frozen=True)
class BoolCol:
    """A boolean column (or TRUE / FALSE) used as a condition by itself."""

    arg: Col | Lit


Pred = Cmp | And | Or | Not | IsNull | InList | Between | Like | BoolCol


@dataclass(frozen=True)
class Predicate:
    text: str
    tree: Pred

    def columns(self) -> list[Col]:
        found: dict[str, Col] = {}

        def walk(node: Any) -> None:
            if isinstance(node, Col):
                found.setdefault(node.name, node)
            elif isinstance(node, tuple):
                for x in node:
                    walk(x)
            elif hasattr(node, "__dataclass_fields__"):
                for f in node.__dataclass_fields__:
                    walk(getattr(node, f))

        walk(self.tree)
        return list(found.values())


# ---------------------------------------------------------------- parsing and checking

def parse(text: str, columns: Mapping[str, tuple[str, str]] | None) -> Predicate:
    """`text` as a checked predicate over `columns` (lower-case name -> (source name, type));
    None for a schemaless table (DynamoDB), where any attribute name is allowed and typed ANY."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    if not text or not text.strip():
        raise UsageError("--where is empty: give a condition such as \"Quality > 30\"")
    try:
        trees = sqlglot.parse(text)
    except (ParseError, TokenError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise UsageError(f"--where {text!r}: not a valid condition ({detail})") from None
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        raise UsageError(f"--where {text!r}: give exactly one condition, not {len(trees)} statements")
    checker = _Checker(text, columns, exp)
    return Predicate(text, checker.predicate(trees[0]))


class _Checker:
    def __init__(self, text: str, columns: Mapping[str, tuple[str, str]] | None, exp: Any) -> None:
        self.text, self.columns, self.exp = text, columns, exp

    def fail(self, why: str) -> UsageError:
        return UsageError(f"--where {self.text!r}: {why}")

    def predicate(self, node: Any) -> Pred:
        e = self.exp
        if isinstance(node, e.Paren):
            return self.predicate(node.this)
        if isinstance(node, e.And):
            return And(self.predicate(node.this), self.predicate(node.expression))
        if isinstance(node, e.Or):
            return Or(self.predicate(node.this), self.predicate(node.expression))
        if isinstance(node, e.Not):
            inner = node.this
            while isinstance(inner, e.Paren):
                inner = inner.this
            if isinstance(inner, e.Is):
                if not self._is_null(inner):
                    raise self.fail("IS is only allowed as IS NULL or IS NOT NULL")
                return IsNull(self.column(inner.this, "IS NULL"), negated=not inner.args.get("negate"))
            if isinstance(inner, e.In):
                return self._in(inner, negated=True)
            if isinstance(inner, e.Between):
                return self._between(inner, negated=True)
            if isinstance(inner, e.Like):
                return self._like(inner, negated=True)
            return Not(self.predicate(inner))
        name = type(node).__name__
        if name in _OPS:
            return self._compare(_OPS[name], node.this, node.expression)
        if isinstance(node, e.Is):
            if not self._is_null(node):
                raise self.fail("IS is only allowed as IS NULL or IS NOT NULL")
            return IsNull(self.column(node.this, "IS NULL"), negated=bool(node.args.get("negate")))
        if isinstance(node, e.In):
            return self._in(node)
        if isinstance(node, e.Between):
            return self._between(node)
        if isinstance(node, e.Like):
            return self._like(node)
        if isinstance(node, (e.Column, e.Boolean)):
            operand = self.operand(node)
            if operand.type not in ("boolean", ANY):
                raise self.fail(f"{_show(operand)} is {operand.type}, not a condition; compare it, e.g. "
                                f"{_show(operand)} > 30")
            return BoolCol(operand)
        raise self.fail(f"{_kind(node)} is not allowed; use comparisons (= != < <= > >=), AND, OR, NOT, "
                        "BETWEEN, IN, LIKE and IS NULL over the table's columns")

    def _is_null(self, node: Any) -> bool:
        return isinstance(node.expression, self.exp.Null)

    def column(self, node: Any, where: str) -> Col:
        operand = self.operand(node)
        if not isinstance(operand, Col):
            raise self.fail(f"{where} needs a column on its left, not {_show(operand)}")
        return operand

    def operand(self, node: Any) -> Col | Lit:
        e = self.exp
        while isinstance(node, e.Paren):
            node = node.this
        if isinstance(node, e.Column):
            if node.table or node.args.get("db") or node.args.get("catalog"):
                raise self.fail(f"{node.sql()!r}: name columns without a table prefix")
            ident = node.this
            if not isinstance(ident, e.Identifier):
                raise self.fail(f"{node.sql()!r} is not a column name")
            return self._resolve(ident.this)
        if isinstance(node, e.Boolean):
            return Lit(bool(node.this), "boolean")
        if isinstance(node, e.Null):
            raise self.fail("NULL cannot be compared (a comparison with NULL is never true); use IS NULL")
        if isinstance(node, e.Neg) and isinstance(node.this, e.Literal) and not node.this.is_string:
            lit = self._literal(node.this)
            return Lit(-lit.value, lit.type)
        if isinstance(node, e.Literal):
            return self._literal(node)
        if isinstance(node, e.Cast) and isinstance(node.this, e.Literal) and node.this.is_string \
                and node.to.is_type("date"):
            return Lit(_iso_date(node.this.this, self), "date")
        raise self.fail(f"{_kind(node)} is not allowed here; use a column name or a literal value")

    def _resolve(self, name: str) -> Col:
        if self.columns is None:
            if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,255}", name):
                raise self.fail(f"{name!r} is not an attribute name")
            return Col(name, name, ANY)
        found = self.columns.get(name.lower())
        if found is None:
            raise self.fail(f"no column {name!r}; the table's columns are {', '.join(self.columns)}")
        return Col(name.lower(), found[0], found[1])

    def _literal(self, node: Any) -> Lit:
        text = node.this
        if node.is_string:
            return Lit(text, "string")
        if re.fullmatch(r"\d+", text):
            value = int(text)
            if value > INT64[1]:
                raise self.fail(f"{text} is out of the 64-bit integer range")
            return Lit(value, "bigint")
        try:
            value = float(text)
        except ValueError:
            raise self.fail(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise self.fail(f"{text!r} is not a finite number")
        return Lit(value, "double")

    def _compare(self, op: str, left_node: Any, right_node: Any) -> Cmp:
        left, right = self.operand(left_node), self.operand(right_node)
        if isinstance(left, Lit) and isinstance(right, Lit):
            raise self.fail(f"{_show(left)} {op} {_show(right)} compares two constants; compare a column")
        left, right = self._unify(left, right, op), self._unify(right, left, op)
        return Cmp(op, left, right)

    def _unify(self, this: Operand, other: Operand, op: str) -> Operand:
        """`this`, converted if it is a literal that `other`'s type reads (an ISO date string
        against a date column); UsageError if the two cannot be compared."""
        a, b = this.type, other.type
        if ANY in (a, b) or a == b or (a in NUMERIC and b in NUMERIC):
            return this
        if isinstance(this, Lit) and a == "string" and b == "date":
            return Lit(_iso_date(this.value, self), "date")
        if isinstance(other, Lit) and b == "string" and a == "date":
            return this
        col = this if isinstance(this, Col) else other
        lit = other if col is this else this
        hint = {"bigint": "a number", "double": "a number", "string": "a 'quoted string'",
                "boolean": "TRUE or FALSE", "date": "DATE 'YYYY-MM-DD'"}[col.type]
        raise self.fail(f"{_show(col)} is {col.type} but {_show(lit)} is {lit.type}: compare it with {hint}")

    def _in(self, node: Any, negated: bool = False) -> InList:
        negated ^= bool(node.args.get("negate"))  # sqlglot may carry NOT inside the node
        col = self.column(node.this, "IN")
        if node.args.get("query") or node.args.get("unnest") or not node.expressions:
            raise self.fail("IN takes a list of values: col IN (1, 2, 3)")
        values = []
        for item in node.expressions:
            lit = self.operand(item)
            if not isinstance(lit, Lit):
                raise self.fail("IN takes literal values only")
            values.append(self._unify(lit, col, "IN"))
        return InList(col, tuple(values), negated)  # type: ignore[arg-type]

    def _between(self, node: Any, negated: bool = False) -> Between:
        negated ^= bool(node.args.get("negate"))
        col = self.column(node.this, "BETWEEN")
        low, high = self.operand(node.args["low"]), self.operand(node.args["high"])
        if not isinstance(low, Lit) or not isinstance(high, Lit):
            raise self.fail("BETWEEN takes literal bounds: col BETWEEN 10 AND 20")
        return Between(col, self._unify(low, col, "BETWEEN"), self._unify(high, col, "BETWEEN"), negated)  # type: ignore[arg-type]

    def _like(self, node: Any, negated: bool = False) -> Like:
        negated ^= bool(node.args.get("negate"))
        col = self.column(node.this, "LIKE")
        pattern = self.operand(node.expression)
        if not isinstance(pattern, Lit) or pattern.type != "string":
            raise self.fail("LIKE takes a 'quoted pattern'")
        if col.type not in ("string", ANY):
            raise self.fail(f"{_show(col)} is {col.type}: LIKE works on string columns")
        if "\\" in pattern.value or node.args.get("escape"):
            raise self.fail("LIKE patterns with escapes are not supported (engines disagree on them)")
        return Like(col, pattern.value, negated)


def _iso_date(text: str, checker: _Checker) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise checker.fail(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _show(x: Operand) -> str:
    if isinstance(x, Col):
        return x.source
    if x.type == "string":
        return repr(x.value)
    if x.type == "date":
        return f"DATE '{x.value.isoformat()}'"
    return str(x.value).upper() if x.type == "boolean" else str(x.value)


def _kind(node: Any) -> str:
    from sqlglot import exp

    name = type(node).__name__
    if isinstance(node, exp.Func) and not isinstance(node, (exp.Cast,)):
        return f"the function {node.sql_name() if name != 'Anonymous' else node.name}()"
    return {"Select": "a SELECT statement", "Subquery": "a sub-query",
            "Add": "arithmetic (+)", "Sub": "arithmetic (-)", "Mul": "arithmetic (*)", "Div": "arithmetic (/)",
            "Star": "*"}.get(name, f"{name} ({node.sql()})")


# ---------------------------------------------------------------- compiling

class _Compiler:
    """Shared walk; subclasses say how each engine builds an expression."""

    def compile(self, node: Pred) -> Any:
        if isinstance(node, Cmp):
            left, right = self.operand(node.left), self.operand(node.right)
            return self.compare(node.op, left, right)
        if isinstance(node, And):
            return self.and_(self.compile(node.left), self.compile(node.right))
        if isinstance(node, Or):
            return self.or_(self.compile(node.left), self.compile(node.right))
        if isinstance(node, Not):
            return self.not_(self.compile(node.arg))
        if isinstance(node, IsNull):
            return self.is_null(self.operand(node.arg), node.negated)
        if isinstance(node, InList):
            return self.in_(self.operand(node.arg), [self.operand(v) for v in node.values], node.negated)
        if isinstance(node, Between):
            expr = self.between(self.operand(node.arg), self.operand(node.low), self.operand(node.high))
            return self.not_(expr) if node.negated else expr
        if isinstance(node, Like):
            expr = self.like(self.operand(node.arg), node.pattern)
            return self.not_(expr) if node.negated else expr
        if isinstance(node, BoolCol):
            return self.truth(self.operand(node.arg))
        raise TypeError(f"unknown predicate node {node!r}")

    def operand(self, x: Operand) -> Any:
        return self.column(x) if isinstance(x, Col) else self.literal(x)

    # engines fill these in
    def column(self, c: Col) -> Any: raise NotImplementedError
    def literal(self, lit: Lit) -> Any: raise NotImplementedError

    def compare(self, op: str, a: Any, b: Any) -> Any:
        return _PY_OPS[op](a, b)

    def and_(self, a: Any, b: Any) -> Any:
        return a & b

    def or_(self, a: Any, b: Any) -> Any:
        return a | b

    def not_(self, a: Any) -> Any:
        return ~a

    def is_null(self, a: Any, negated: bool) -> Any: raise NotImplementedError
    def in_(self, a: Any, values: list[Any], negated: bool) -> Any: raise NotImplementedError
    def between(self, a: Any, low: Any, high: Any) -> Any: raise NotImplementedError
    def like(self, a: Any, pattern: str) -> Any: raise NotImplementedError

    def truth(self, a: Any) -> Any:
        return a


_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}

_DUCK_TYPES = {"bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE", "string": "VARCHAR"}


class _DuckDB(_Compiler):
    def __init__(self, typed_source: bool) -> None:
        import duckdb

        self.duckdb, self.typed_source = duckdb, typed_source

    def column(self, c: Col) -> Any:
        expr = self.duckdb.ColumnExpression(c.source)  # quoted by DuckDB: any name is safe
        if self.typed_source or c.type == "string":
            return expr
        return expr.try_cast(_DUCK_TYPES[c.type])  # a cell the type cannot read is NULL: never matches

    def literal(self, lit: Lit) -> Any:
        return self.duckdb.ConstantExpression(lit.value)

    def is_null(self, a: Any, negated: bool) -> Any:
        return a.isnotnull() if negated else a.isnull()

    def in_(self, a: Any, values: list[Any], negated: bool) -> Any:
        return a.isnotin(*values) if negated else a.isin(*values)

    def between(self, a: Any, low: Any, high: Any) -> Any:
        return a.between(low, high)

    def like(self, a: Any, pattern: str) -> Any:
        return a.like(self.duckdb.ConstantExpression(pattern))


class _Spark(_Compiler):
    def __init__(self, typed_source: bool) -> None:
        from pyspark.sql import functions as F

        self.F, self.typed_source = F, typed_source

    def column(self, c: Col) -> Any:
        expr = self.F.col("`" + c.source.replace("`", "``") + "`")
        if self.typed_source or c.type == "string":
            return expr
        return expr.try_cast(c.type)  # as DuckDB's TRY_CAST: an unreadable cell is NULL

    def literal(self, lit: Lit) -> Any:
        return self.F.lit(lit.value)

    def is_null(self, a: Any, negated: bool) -> Any:
        return a.isNotNull() if negated else a.isNull()

    def in_(self, a: Any, values: list[Any], negated: bool) -> Any:
        expr = a.isin(*values)
        return ~expr if negated else expr

    def between(self, a: Any, low: Any, high: Any) -> Any:
        return a.between(low, high)

    def like(self, a: Any, pattern: str) -> Any:
        return a.like(pattern)


class _Dynamo(_Compiler):
    """boto3 conditions for a Scan's FilterExpression. A literal's type picks the attribute
    type compared against: `50` is a number (N), `'50'` a string (S). DynamoDB compares
    values of the same type only, so `Depth > 50` matches nothing where Depth is a string."""

    def __init__(self) -> None:
        from boto3.dynamodb.conditions import Attr

        self.Attr = Attr

    def column(self, c: Col) -> Any:
        return self.Attr(c.source)

    def literal(self, lit: Lit) -> Any:
        from decimal import Decimal

        if lit.type in ("bigint", "double"):
            return Decimal(str(lit.value))
        if lit.type == "date":
            return lit.value.isoformat()
        return lit.value

    def compare(self, op: str, a: Any, b: Any) -> Any:
        if not hasattr(a, "eq"):  # literal op column: flip it
            a, b, op = b, a, {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        method = {"=": "eq", "!=": "ne", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[op]
        return getattr(a, method)(b)

    def is_null(self, a: Any, negated: bool) -> Any:
        return a.exists() if negated else a.not_exists()

    def in_(self, a: Any, values: list[Any], negated: bool) -> Any:
        expr = a.is_in(values)
        return ~expr if negated else expr

    def between(self, a: Any, low: Any, high: Any) -> Any:
        return a.between(low, high)

    def like(self, a: Any, pattern: str) -> Any:
        prefix = pattern[:-1]
        if not pattern.endswith("%") or "%" in prefix or "_" in prefix:
            raise UsageError(f"DynamoDB can only match a prefix: LIKE 'abc%' (begins_with), not {pattern!r}")
        return a.begins_with(prefix)

    def truth(self, a: Any) -> Any:
        return a.eq(True) if hasattr(a, "eq") else a


def to_duckdb(pred: Predicate, *, typed_source: bool = False) -> Any:
    """A DuckDB expression (cells read as text are TRY_CAST to the catalog's types)."""
    return _DuckDB(typed_source).compile(pred.tree)


def to_spark(pred: Predicate, *, typed_source: bool = False) -> Any:
    """A Spark Column (cells read as text are try_cast to the catalog's types)."""
    return _Spark(typed_source).compile(pred.tree)


def to_dynamodb(pred: Predicate) -> Any:
    """A boto3 condition for a Scan's FilterExpression."""
    tree = pred.tree
    if isinstance(tree, BoolCol) and isinstance(tree.arg, Lit):
        raise UsageError(f"--where {pred.text!r}: name an attribute")
    return _Dynamo().compile(tree)
