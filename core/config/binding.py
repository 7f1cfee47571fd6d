"""Bind Sen2Cor GIPP XML elements to frozen dataclasses, with the XSD's types and ranges.

A dataclass field is an XML element whose tag, lower-cased, is the field name (``T1_B02`` ->
``t1_b02``). Its annotation gives the type: ``bool`` (``TRUE``/``FALSE``, case-insensitive, as
the schemas mix both), ``int``, ``float``, ``str``, a ``Literal`` enumeration, a union of those,
a nested dataclass (a child group) or ``tuple[X, ...]`` (a repeated element). A
:class:`Facets` in ``Annotated`` adds the XSD facets (inclusive or exclusive range, pattern,
multiple, list length) and marks fields bound to an XML attribute or to the element text.

The binding is hand-written because the standard library offers none and an XSD binding
generator would need the XSDs at run time; the rules here are the ones Sen2Cor's schemas use.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

from core.errors import ConfigError
from core.io.xml import local_name

T = TypeVar("T")

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


@dataclass(frozen=True, slots=True)
class Facets:
    """XSD facets of one GIPP field, attached with ``Annotated[float, Facets(0.0, 1.0)]``.

    ``lo``/``hi`` bound numbers (inclusive unless ``exclusive``), ``pattern`` must match a whole
    string, ``multiple_of`` divides an integer, ``length`` is the count of a repeated element and
    ``xml`` says where the value is: a child element, an attribute or the element's own text.
    """

    lo: float | None = None
    hi: float | None = None
    exclusive: bool = False
    pattern: str | None = None
    multiple_of: int | None = None
    length: int | None = None
    xml: Literal["element", "attribute", "text"] = "element"


_NO_FACETS = Facets()


def build(cls: type[T], element: ET.Element, base: T | None, *, path: str, key: str = "") -> T:
    """Build ``cls`` from ``element``; keys absent from ``element`` are taken from ``base``.

    Parameters
    ----------
    cls
        The dataclass bound to ``element``.
    element
        The XML element (the document root for a whole GIPP file).
    base
        Values for keys that ``element`` does not contain, or ``None`` to require every key.
    path
        The file being read, named in errors.
    key
        Tag path of ``element`` below the root, named in errors.

    Raises
    ------
    ConfigError
        Unknown, duplicated or missing key; value of the wrong type or out of range.
    """
    spec = _spec(cls)
    children: dict[str, list[ET.Element]] = {}
    for child in element:
        if not isinstance(child.tag, str):
            continue
        tag = local_name(child.tag)
        entry = spec.get(tag.lower())
        if entry is None or entry[1].xml != "element":
            raise ConfigError("unknown key", path=path, key=_join(key, tag))
        children.setdefault(tag.lower(), []).append(child)
    # Namespace-qualified attributes (xsi:noNamespaceSchemaLocation) are schema hints, not keys.
    attributes = {k.lower(): (k, v) for k, v in element.attrib.items() if not k.startswith("{")}
    for name, (attr, _) in attributes.items():
        entry = spec.get(name)
        if entry is None or entry[1].xml != "attribute":
            raise ConfigError("unknown attribute", path=path, key=_join(key, f"@{attr}"))

    values: dict[str, Any] = {}
    for name, (tp, facets) in spec.items():
        if facets.xml == "attribute" and name in attributes:
            attr, raw = attributes[name]
            attr_key = _join(key, f"@{attr}")
            values[name] = parse_value(raw, tp, facets, path=path, key=attr_key)
        elif facets.xml == "text":
            values[name] = parse_value(element.text or "", tp, facets, path=path, key=key)
        elif name in children:
            base_value = getattr(base, name) if base is not None else None
            values[name] = _build_child(
                tp, facets, children[name], base_value=base_value, path=path, key=key
            )
        elif base is None:
            raise ConfigError("required key is missing", path=path, key=_join(key, name))
        else:
            values[name] = getattr(base, name)
    return cls(**values)


def parse_value(raw: str, tp: Any, facets: Facets, *, path: str, key: str) -> Any:
    """Parse the text ``raw`` of a leaf as ``tp`` and check ``facets``."""
    text = raw.strip()
    arms = _union_arms(tp)
    errors = []
    for arm in arms:
        try:
            value = _parse_scalar(text, arm)
        except ValueError as err:
            errors.append(str(err))
            continue
        _check_facets(value, facets, path=path, key=key)
        return value
    raise ConfigError(f"{text!r} is not {' or '.join(errors)}", path=path, key=key)


def replace_path(obj: T, dotted: str, raw: Any, *, path: str) -> T:
    """Return ``obj`` with the leaf at ``dotted`` (field names joined by dots) set from ``raw``.

    ``raw`` is XML text or a Python value (``True`` is written ``TRUE`` as in the GIPP files).
    Errors name ``path`` and the whole ``dotted`` key.
    """
    return _replace(obj, dotted.split("."), raw, path=path, key=dotted)


def _replace(obj: Any, names: list[str], raw: Any, *, path: str, key: str) -> Any:
    head, rest = names[0], names[1:]
    spec = _spec(type(obj))
    if head not in spec:
        raise ConfigError("unknown key", path=path, key=key)
    tp, facets = spec[head]
    if rest:
        child = getattr(obj, head)
        if not dataclasses.is_dataclass(child):
            raise ConfigError("unknown key", path=path, key=key)
        value = _replace(child, rest, raw, path=path, key=key)
    elif dataclasses.is_dataclass(tp) or get_origin(tp) is tuple:
        raise ConfigError("only single values can be overridden", path=path, key=key)
    else:
        text = ("TRUE" if raw else "FALSE") if isinstance(raw, bool) else str(raw)
        value = parse_value(text, tp, facets, path=path, key=key)
    return dataclasses.replace(obj, **{head: value})


def _build_child(
    tp: Any,
    facets: Facets,
    elements: list[ET.Element],
    *,
    base_value: Any,
    path: str,
    key: str,
) -> Any:
    child_key = _join(key, local_name(elements[0].tag))
    if get_origin(tp) is tuple:
        item_tp = get_args(tp)[0]
        if facets.length is not None and len(elements) != facets.length:
            problem = f"expected {facets.length} values, found {len(elements)}"
            raise ConfigError(problem, path=path, key=child_key)
        if dataclasses.is_dataclass(item_tp):
            return tuple(build(item_tp, e, None, path=path, key=child_key) for e in elements)  # type: ignore[arg-type]
        return tuple(
            parse_value(e.text or "", item_tp, facets, path=path, key=child_key) for e in elements
        )
    if len(elements) > 1:
        raise ConfigError("key appears more than once", path=path, key=child_key)
    if dataclasses.is_dataclass(tp):
        return build(tp, elements[0], base_value, path=path, key=child_key)  # type: ignore[arg-type]
    if len(elements[0]):
        raise ConfigError("expected a value, found child elements", path=path, key=child_key)
    return parse_value(elements[0].text or "", tp, facets, path=path, key=child_key)


def _parse_literal(text: str, options: tuple[Any, ...]) -> Any:
    for option in options:
        if isinstance(option, str) and text == option:
            return option
        if isinstance(option, int) and _is_int(text) and int(text) == option:
            return option
    raise ValueError(f"one of {', '.join(str(o) for o in options)}")


def _parse_scalar(text: str, tp: Any) -> Any:
    if get_origin(tp) is Literal:
        return _parse_literal(text, get_args(tp))
    if tp is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError("TRUE or FALSE")
    if tp is int:
        if not _is_int(text):
            raise ValueError("an integer")
        return int(text)
    if tp is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("a number") from None
        if not math.isfinite(value):
            raise ValueError("a finite number")
        return value
    if tp is str:
        return text
    raise TypeError(f"unsupported GIPP field type {tp!r}")


def _check_facets(value: Any, facets: Facets, *, path: str, key: str) -> None:
    lo, hi = facets.lo, facets.hi
    if isinstance(value, int | float) and not isinstance(value, bool):
        if facets.exclusive:
            if (lo is not None and value <= lo) or (hi is not None and value >= hi):
                problem = f"{value} is outside the open range ({lo}, {hi})"
                raise ConfigError(problem, path=path, key=key)
        elif (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{value} is outside the range [{lo}, {hi}]", path=path, key=key)
        if facets.multiple_of and value % facets.multiple_of:
            problem = f"{value} is not a multiple of {facets.multiple_of}"
            raise ConfigError(problem, path=path, key=key)
    if facets.pattern and isinstance(value, str) and not re.fullmatch(facets.pattern, value):
        raise ConfigError(f"{value!r} does not match {facets.pattern!r}", path=path, key=key)


def _spec(cls: Any) -> dict[str, tuple[Any, Facets]]:
    """Field name -> (type without ``Annotated``, facets), in declaration order."""
    hints = get_type_hints(cls, include_extras=True)
    spec = {}
    for field in dataclasses.fields(cls):
        tp = hints[field.name]
        facets = _NO_FACETS
        if get_origin(tp) is Annotated:
            tp, *extras = get_args(tp)
            facets = next((e for e in extras if isinstance(e, Facets)), _NO_FACETS)
        spec[field.name] = (tp, facets)
    return spec


def _union_arms(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) in (Union, types.UnionType):
        return get_args(tp)
    return (tp,)


def _is_int(text: str) -> bool:
    return re.fullmatch(r"[+-]?\d+", text) is not None


def _join(key: str, tag: str) -> str:
    return f"{key}/{tag}" if key else tag
