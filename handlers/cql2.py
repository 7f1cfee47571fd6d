"""CQL2 (the STAC API filter extension) and the query extension, as predicates on items.

A filter in CQL2-JSON compiles to a :data:`Predicate`; CQL2-text is first parsed to CQL2-JSON
(:class:`Cql2TextParser`). Supported: basic CQL2 (``AND``/``OR``/``NOT``, comparisons,
``IS NULL``), the advanced comparison operators ``LIKE``, ``BETWEEN`` and ``IN``, and
``S_INTERSECTS`` with GeoJSON, WKT or ``BBOX`` literals. Comparisons follow CQL2's three-valued
logic: a missing property or values of different types give ``None`` (unknown), and a search
keeps only items for which the whole condition is True. The query extension
(``{"eo:cloud_cover": {"lt": 20}}``) is translated to CQL2-JSON. Anything else raises
:class:`InputError` naming ``filter`` or ``query``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

from core.errors import InputError
from handlers.geometry import Geometry, bbox_geometry, check_geometry, intersects, parse_bbox
from handlers.stac_index import parse_datetime

Predicate = Callable[[Mapping[str, Any]], bool | None]
"""A condition on an item: True, False or None (unknown, CQL2's null)."""
QUERY_OPERATORS: Final[dict[str, str]] = {
    "eq": "=",
    "neq": "<>",
    "lt": "<",
    "lte": "<=",
    "gt": ">",
    "gte": ">=",
}
COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def all_true(conditions: Sequence[Predicate]) -> Callable[[Mapping[str, Any]], bool]:
    return lambda item: all(c(item) is True for c in conditions)


def query_predicate(query: Any) -> Predicate:
    """The query extension (``{"eo:cloud_cover": {"lt": 20}}``) as a CQL2 condition."""
    if not isinstance(query, dict):
        raise InputError("must be an object of property -> {operator: value}", path="query")
    args = []
    for name, tests in query.items():
        if not isinstance(tests, dict) or not tests:
            raise InputError(f"{name!r} needs an object of operator -> value", path="query")
        for op, value in tests.items():
            prop = {"property": name}
            if op in QUERY_OPERATORS:
                args.append({"op": QUERY_OPERATORS[op], "args": [prop, value]})
            elif op in ("startsWith", "endsWith", "contains") and isinstance(value, str):
                escaped = re.sub(r"([%_\\])", r"\\\1", value)
                pattern = {"startsWith": "{}%", "endsWith": "%{}", "contains": "%{}%"}[op]
                args.append({"op": "like", "args": [prop, pattern.format(escaped)]})
            elif op == "in" and isinstance(value, list):
                args.append({"op": "in", "args": [prop, value]})
            else:
                raise InputError(f"unsupported operator {op!r} for {name!r}", path="query")
    return compile_cql2({"op": "and", "args": args} if len(args) > 1 else args[0])


def compile_cql2(node: Any) -> Predicate:
    """A CQL2-JSON boolean expression as a predicate; InputError if it is not one we know."""
    if isinstance(node, bool):
        return lambda _: node
    if not isinstance(node, dict) or not isinstance(node.get("op"), str):
        raise InputError(f"{json.dumps(node)[:80]} is not a CQL2 expression", path="filter")
    op, args = node["op"].lower(), node.get("args")
    if not isinstance(args, list):
        raise InputError(f"operator {op!r} needs an args array", path="filter")
    builder = _OPERATORS.get(op)
    predicate = builder(args) if builder else None
    if predicate is None:
        raise InputError(f"unsupported CQL2 operator {op!r} with {len(args)} args", path="filter")
    return predicate


def _logical(combine: Callable[[list[Predicate]], Predicate]) -> _Builder:
    return lambda args: combine([compile_cql2(a) for a in args]) if len(args) >= 2 else None


def _not(args: list[Any]) -> Predicate | None:
    if len(args) != 1:
        return None
    inner = compile_cql2(args[0])
    return lambda item: None if (v := inner(item)) is None else not v


def _comparison(op: str) -> _Builder:
    def build(args: list[Any]) -> Predicate | None:
        if len(args) != 2:
            return None
        left, right, test = _scalar(args[0]), _scalar(args[1]), COMPARISONS[op]
        return lambda item: _compare(test, left(item), right(item))

    return build


def _is_null(args: list[Any]) -> Predicate | None:
    if len(args) != 1:
        return None
    value = _scalar(args[0])
    return lambda item: value(item) is None


def _like(args: list[Any]) -> Predicate | None:
    if len(args) != 2 or not isinstance(args[1], str):
        return None
    value, pattern = _scalar(args[0]), _like_regex(args[1])
    return lambda item: None if (v := value(item)) is None else bool(pattern.fullmatch(str(v)))


def _between(args: list[Any]) -> Predicate | None:
    """``[value, low, high]`` (CQL2 1.0) or ``[value, [low, high]]`` (earlier drafts)."""
    bounds = args[1:] if len(args) == 3 else args[1] if len(args) == 2 else None
    if not isinstance(bounds, list) or len(bounds) != 2:
        return None
    low = {"op": ">=", "args": [args[0], bounds[0]]}
    high = {"op": "<=", "args": [args[0], bounds[1]]}
    return compile_cql2({"op": "and", "args": [low, high]})


def _in_list(args: list[Any]) -> Predicate | None:
    if len(args) != 2 or not isinstance(args[1], list) or not args[1]:
        return None
    return _in(_scalar(args[0]), [_scalar(v)({}) for v in args[1]])


def _s_intersects(args: list[Any]) -> Predicate | None:
    if len(args) != 2:
        return None
    first, second = _geometry(args[0]), _geometry(args[1])
    return lambda item: _geometries_meet(first(item), second(item))


def _in(value: Callable[[Any], Any], options: list[Any]) -> Predicate:
    """``IN``: the value equals one of ``options``; an array value, when one element does."""

    def test(item: Mapping[str, Any]) -> bool | None:
        found = value(item)
        values = found if isinstance(found, list) else [found]
        results = [_compare(COMPARISONS["="], v, option) for v in values for option in options]
        return True if True in results else None if None in results else False

    return test


def _and(parts: list[Predicate]) -> Predicate:
    def test(item: Mapping[str, Any]) -> bool | None:
        values = [p(item) for p in parts]
        return False if False in values else None if None in values else True

    return test


def _or(parts: list[Predicate]) -> Predicate:
    def test(item: Mapping[str, Any]) -> bool | None:
        values = [p(item) for p in parts]
        return True if True in values else None if None in values else False

    return test


_Builder = Callable[[list[Any]], Predicate | None]
"""Builds the predicate of one CQL2 operator from its args (``None``: wrong args)."""
_OPERATORS: Final[dict[str, _Builder]] = {
    "and": _logical(_and),
    "or": _logical(_or),
    "not": _not,
    **{op: _comparison(op) for op in COMPARISONS},
    "isnull": _is_null,
    "like": _like,
    "between": _between,
    "in": _in_list,
    "s_intersects": _s_intersects,
}


def _scalar(node: Any) -> Callable[[Mapping[str, Any]], Any]:
    """A CQL2 scalar: property, string, number, boolean, timestamp or date."""
    if isinstance(node, str | int | float) or node is None:
        return lambda _: node
    if isinstance(node, dict) and len(node) == 1:
        ((kind, value),) = node.items()
        if kind == "property" and isinstance(value, str):
            return lambda item: _property(item, value)
        if kind == "timestamp" and isinstance(value, str):
            instant = parse_datetime(value, "filter")
            return lambda _: instant
        if kind == "date" and isinstance(value, str):
            try:
                day = date.fromisoformat(value)
            except ValueError as err:
                raise InputError(f"{value[:40]!r} is not a date", path="filter") from err
            return lambda _: day
    raise InputError(f"{json.dumps(node)[:80]} is not a CQL2 scalar", path="filter")


def _geometry(node: Any) -> Callable[[Mapping[str, Any]], Geometry | None]:
    if isinstance(node, dict) and set(node) == {"property"}:
        name = node["property"]
        return lambda item: _property(item, name)
    if isinstance(node, dict) and set(node) == {"bbox"}:
        literal = bbox_geometry(parse_bbox(node["bbox"]))
    else:
        literal = node
        check_geometry(literal, "filter")
    return lambda _: literal


def _property(item: Mapping[str, Any], name: str) -> Any:
    if name in ("id", "collection", "geometry"):
        return item.get(name)
    properties = item.get("properties") or {}
    return properties.get(name)


def _compare(test: Callable[[Any, Any], bool], left: Any, right: Any) -> bool | None:
    """``test`` on two values brought to one type; None when either is null or they differ."""
    left, right = _comparable(left, right), _comparable(right, left)
    if left is None or right is None:
        return None
    try:
        return test(left, right)
    except TypeError:
        return None


def _comparable(value: Any, other: Any) -> Any:
    """``value`` as the type of ``other`` where one can be read as the other, else itself.

    Strings compared with a timestamp or date become one; with a number, a number (the query
    extension's values often arrive as strings).
    """
    try:
        if isinstance(value, str) and isinstance(other, datetime):
            return parse_datetime(value, "property")
        if isinstance(value, str) and isinstance(other, date):
            return date.fromisoformat(value[:10])
        if (
            isinstance(value, str)
            and isinstance(other, int | float)
            and not isinstance(other, bool)
        ):
            return float(value)
    except ValueError:  # InputError is one too
        return None
    if isinstance(value, datetime) and type(other) is date:
        return value.astimezone(UTC).date()
    return value


def _like_regex(pattern: str) -> re.Pattern[str]:
    """CQL2 ``LIKE``: ``%`` any run, ``_`` one character, ``\\`` escapes."""
    parts, escaped = [], False
    for char in pattern:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            parts.append({"%": ".*", "_": "."}.get(char, re.escape(char)))
    return re.compile("".join(parts), re.DOTALL)


def _geometries_meet(a: Geometry | None, b: Geometry | None) -> bool | None:
    if a is None or b is None:
        return None
    return intersects(a, b)


class Cql2TextParser:
    """CQL2-text (basic CQL2, LIKE/BETWEEN/IN, S_INTERSECTS with WKT or BBOX) to CQL2-JSON."""

    TOKEN: Final = re.compile(
        r"\s*(?:(?P<string>'(?:[^']|'')*')"
        r"|(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
        r"|(?P<op><>|<=|>=|=|<|>)"
        r"|(?P<punct>[(),])"
        r'|(?P<quoted>"(?:[^"]|"")+")'
        r"|(?P<word>[A-Za-z_][A-Za-z0-9_:.]*))"
    )
    WKT_TYPES: Final[dict[str, tuple[str, int]]] = {
        "POINT": ("Point", 0),
        "LINESTRING": ("LineString", 1),
        "POLYGON": ("Polygon", 2),
        "MULTIPOINT": ("MultiPoint", 1),
        "MULTILINESTRING": ("MultiLineString", 2),
        "MULTIPOLYGON": ("MultiPolygon", 3),
    }
    """GeoJSON type and nesting depth of the coordinates of each WKT geometry."""
    KEYWORDS: Final = frozenset(
        {"AND", "OR", "NOT", "IS", "NULL", "LIKE", "BETWEEN", "IN", "TRUE", "FALSE"}
    )

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position, text = 0, text.rstrip()
        while position < len(text):
            match = self.TOKEN.match(text, position)
            if not match or match.end() == position:
                raise InputError(
                    f"cannot read CQL2 text at {text[position:][:30]!r}", path="filter"
                )
            kind = match.lastgroup or ""
            self.tokens.append((kind, match[kind]))
            position = match.end()
        self.at = 0

    def parse(self) -> Any:
        expression = self._or()
        if self.at != len(self.tokens):
            raise self._error("unexpected text")
        return expression

    def _error(self, problem: str) -> InputError:
        seen = " ".join(value for _, value in self.tokens[self.at : self.at + 4]) or "the end"
        return InputError(f"CQL2 text: {problem} at {seen[:40]!r}", path="filter")

    def _peek(self, offset: int = 0) -> tuple[str, str]:
        at = self.at + offset
        return self.tokens[at] if at < len(self.tokens) else ("end", "")

    def _take_word(self, *words: str) -> str | None:
        kind, value = self._peek()
        if kind == "word" and value.upper() in words:
            self.at += 1
            return value.upper()
        return None

    def _expect(self, value: str) -> None:
        if self._peek()[1] != value:
            raise self._error(f"expected {value!r}")
        self.at += 1

    def _or(self) -> Any:
        args = [self._and()]
        while self._take_word("OR"):
            args.append(self._and())
        return args[0] if len(args) == 1 else {"op": "or", "args": args}

    def _and(self) -> Any:
        args = [self._not()]
        while self._take_word("AND"):
            args.append(self._not())
        return args[0] if len(args) == 1 else {"op": "and", "args": args}

    def _not(self) -> Any:
        if self._take_word("NOT"):
            return {"op": "not", "args": [self._not()]}
        if self._peek()[1] == "(":
            self.at += 1
            inner = self._or()
            self._expect(")")
            return inner
        return self._predicate()

    def _predicate(self) -> Any:
        kind, value = self._peek()
        if kind == "word" and value.upper() == "S_INTERSECTS" and self._peek(1)[1] == "(":
            self.at += 2
            first = self._spatial()
            self._expect(",")
            second = self._spatial()
            self._expect(")")
            return {"op": "s_intersects", "args": [first, second]}
        left = self._scalar()
        kind, value = self._peek()
        if kind == "op":
            self.at += 1
            return {"op": value, "args": [left, self._scalar()]}
        if self._take_word("IS"):
            negate = self._take_word("NOT")
            if not self._take_word("NULL"):
                raise self._error("expected NULL")
            test = {"op": "isNull", "args": [left]}
            return {"op": "not", "args": [test]} if negate else test
        negate = self._take_word("NOT")
        if self._take_word("LIKE"):
            test = {"op": "like", "args": [left, self._scalar()]}
        elif self._take_word("BETWEEN"):
            low = self._scalar()
            if not self._take_word("AND"):
                raise self._error("expected AND")
            test = {"op": "between", "args": [left, low, self._scalar()]}
        elif self._take_word("IN"):
            self._expect("(")
            values = [self._scalar()]
            while self._peek()[1] == ",":
                self.at += 1
                values.append(self._scalar())
            self._expect(")")
            test = {"op": "in", "args": [left, values]}
        else:
            raise self._error("expected a comparison")
        return {"op": "not", "args": [test]} if negate else test

    def _scalar(self) -> Any:
        kind, value = self._peek()
        self.at += 1
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            number = float(value)
            return (
                int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", value) else number
            )
        if kind == "quoted":
            return {"property": value[1:-1].replace('""', '"')}
        if kind == "word":
            word = value.upper()
            if word in ("TRUE", "FALSE"):
                return word == "TRUE"
            if word in ("TIMESTAMP", "DATE") and self._peek()[1] == "(":
                self.at += 1
                literal = self._scalar()
                self._expect(")")
                if not isinstance(literal, str):
                    raise self._error(f"{word} needs a string")
                return {word.lower(): literal}
            if word not in self.KEYWORDS:
                return {"property": value}
        self.at -= 1
        raise self._error("expected a value")

    def _spatial(self) -> Any:
        kind, value = self._peek()
        if kind in ("word", "quoted") and self._peek(1)[1] != "(":
            return self._scalar()
        word = value.upper()
        self.at += 1
        if word == "BBOX":
            return {"bbox": self._numbers()}
        return self._wkt(word)

    def _wkt(self, word: str) -> dict[str, Any]:
        if word == "GEOMETRYCOLLECTION":
            self._expect("(")
            members = [self._wkt(self._word())]
            while self._peek()[1] == ",":
                self.at += 1
                members.append(self._wkt(self._word()))
            self._expect(")")
            return {"type": "GeometryCollection", "geometries": members}
        if word not in self.WKT_TYPES:
            raise self._error("expected a WKT geometry or BBOX")
        kind, depth = self.WKT_TYPES[word]
        coordinates = self._coordinates(depth, multipoint=word == "MULTIPOINT")
        return {"type": kind, "coordinates": coordinates}

    def _word(self) -> str:
        kind, value = self._peek()
        if kind != "word":
            raise self._error("expected a WKT geometry")
        self.at += 1
        return value.upper()

    def _coordinates(self, depth: int, *, multipoint: bool = False) -> Any:
        """``depth`` 0: ``(x y)``; 1: ``(x y, ...)``; 2: ``((...), ...)``; 3: ``(((...)))``."""
        self._expect("(")
        if depth == 0:
            position = self._position()
            self._expect(")")
            return position
        items = []
        while True:
            if depth == 1 and not (multipoint and self._peek()[1] == "("):
                items.append(self._position())
            else:
                items.append(self._coordinates(0 if depth == 1 else depth - 1))
            if self._peek()[1] != ",":
                break
            self.at += 1
        self._expect(")")
        return items

    def _position(self) -> list[float]:
        values = []
        while self._peek()[0] == "number":
            values.append(float(self._peek()[1]))
            self.at += 1
        if len(values) not in (2, 3):
            raise self._error("expected a position of 2 or 3 numbers")
        return values

    def _numbers(self) -> list[float]:
        self._expect("(")
        values = []
        while True:
            kind, value = self._peek()
            if kind != "number":
                raise self._error("expected a number")
            values.append(float(value))
            self.at += 1
            if self._peek()[1] != ",":
                break
            self.at += 1
        self._expect(")")
        return values
