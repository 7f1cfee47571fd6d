"""Catalog function: the STAC API (1.0) of the published items, behind an API Gateway HTTP API.

Routes: landing page ``/``, ``/conformance``, ``/api`` (OpenAPI, the ``service-desc``),
``/queryables``, ``/collections[/{id}[/queryables|/items[/{itemId}]]]`` and item search
``/search`` (GET and POST) with ``bbox``, ``intersects``, ``datetime``, ``ids``,
``collections``, ``limit`` and token paging, plus the query extension and the filter extension
(CQL2 text and JSON: basic CQL2, ``LIKE``/``BETWEEN``/``IN`` and ``S_INTERSECTS``). Requests are
parsed and checked here; the index (:mod:`handlers.stac_index`) finds the items. A bad request
is answered 400 and an unknown collection or item 404, with a STAC API error body
(``{"code", "description"}``). Path segments arrive percent-encoded (API Gateway's ``rawPath``)
and are decoded here; links are built on ``STAC_API_URL`` or on the request's host and stage.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Final
from urllib.parse import quote, unquote, urlencode

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from core.errors import InputError
from handlers.stac_index import (
    Geometry,
    SearchPage,
    SearchRequest,
    StacIndex,
    bbox_geometry,
    geometry_bounds,
    intersects,
    parse_datetime,
)

STAC_VERSION: Final[str] = "1.1.0"
DEFAULT_LIMIT: Final[int] = 10
MAX_LIMIT: Final[int] = 1000
"""Largest page; a larger ``limit`` is lowered to it (STAC API item search)."""
MAX_IDS: Final[int] = 1000
"""Most ``ids`` or ``collections`` one search may name."""
JSON: Final[str] = "application/json"
GEOJSON: Final[str] = "application/geo+json"
OPENAPI: Final[str] = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA: Final[str] = "application/schema+json"
QUERYABLES_REL: Final[str] = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
BASE_URL_VARIABLE: Final[str] = "STAC_API_URL"
"""Optional public URL of the API (a custom domain); by default it comes from the request."""
CONFORMANCE: Final[tuple[str, ...]] = (
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0-rc.1/item-search#query",
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
)
"""The conformance classes implemented in full (nothing else is declared)."""
QUERYABLE_PROPERTIES: Final[dict[str, dict[str, Any]]] = {
    "id": {"type": "string", "title": "Item id"},
    "collection": {"type": "string", "title": "Collection id"},
    "geometry": {"$ref": "https://geojson.org/schema/Geometry.json"},
    "datetime": {"type": "string", "format": "date-time"},
    "platform": {"type": "string"},
    "eo:cloud_cover": {"type": "number", "minimum": 0, "maximum": 100},
    "eo:snow_cover": {"type": "number", "minimum": 0, "maximum": 100},
    "grid:code": {"type": "string"},
    "mgrs:utm_zone": {"type": "integer"},
    "mgrs:latitude_band": {"type": "string"},
    "mgrs:grid_square": {"type": "string"},
    "sat:relative_orbit": {"type": "integer"},
    "view:sun_elevation": {"type": "number"},
    "view:sun_azimuth": {"type": "number"},
    "s2:processing_baseline": {"type": "string"},
    "s2:product_type": {"type": "string"},
    **{
        f"s2:{name}_percentage": {"type": "number", "minimum": 0, "maximum": 100}
        for name in (
            "nodata_pixel",
            "saturated_defective_pixel",
            "dark_features",
            "cloud_shadow",
            "vegetation",
            "not_vegetated",
            "water",
            "unclassified",
            "medium_proba_clouds",
            "high_proba_clouds",
            "thin_cirrus",
            "snow_ice",
        )
    },
}
"""Properties worth filtering on (stactools-sentinel2 names); any other property works too."""

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayHttpResolver(cors=CORSConfig(allow_origin="*", max_age=3600))
"""Open to browsers from any origin (STAC Browser): the catalog is read-only."""
index = StacIndex.from_env()


# -- routes --------------------------------------------------------------------------------


@app.get("/")
def landing_page() -> Response[str]:
    base = _base_url()
    links = [
        _link("self", f"{base}/", JSON),
        _link("root", f"{base}/", JSON),
        _link("conformance", f"{base}/conformance", JSON),
        _link("data", f"{base}/collections", JSON),
        _link("search", f"{base}/search", GEOJSON) | {"method": "GET"},
        _link("search", f"{base}/search", GEOJSON) | {"method": "POST"},
        _link("service-desc", f"{base}/api", OPENAPI),
        _link(QUERYABLES_REL, f"{base}/queryables", SCHEMA),
    ]
    links += [
        _link("child", f"{base}/collections/{quote(c['id'], safe='')}", JSON)
        | {"title": c.get("title", c["id"])}
        for c in index.collections()
    ]
    return _json(
        {
            "type": "Catalog",
            "stac_version": STAC_VERSION,
            "id": "sen2cloud",
            "title": "sen2cloud",
            "description": "Sentinel-2 Level-2A products made by sen2cloud.",
            "conformsTo": list(CONFORMANCE),
            "links": links,
        }
    )


@app.get("/conformance")
def conformance() -> Response[str]:
    return _json({"conformsTo": list(CONFORMANCE)})


@app.get("/api")
def service_description() -> Response[str]:
    return _json(_openapi(_base_url()), OPENAPI)


@app.get("/queryables")
def queryables() -> Response[str]:
    return _json(_queryables(f"{_base_url()}/queryables"), SCHEMA)


@app.get("/collections")
def collections() -> Response[str]:
    base = _base_url()
    docs = [_collection_with_links(c, base) for c in index.collections()]
    links = [_link("self", f"{base}/collections", JSON), _link("root", f"{base}/", JSON)]
    return _json({"collections": docs, "links": links})


@app.get("/collections/<collection_id>")
def collection(collection_id: str) -> Response[str]:
    return _json(_collection_with_links(_known_collection(unquote(collection_id)), _base_url()))


@app.get("/collections/<collection_id>/queryables")
def collection_queryables(collection_id: str) -> Response[str]:
    collection_id = unquote(collection_id)
    _known_collection(collection_id)
    url = f"{_base_url()}/collections/{quote(collection_id, safe='')}/queryables"
    return _json(_queryables(url), SCHEMA)


@app.get("/collections/<collection_id>/items")
def collection_items(collection_id: str) -> Response[str]:
    collection_id = unquote(collection_id)
    _known_collection(collection_id)
    params = _get_parameters() | {"collections": collection_id}
    request = search_request(params, method="GET")
    path = f"/collections/{quote(collection_id, safe='')}/items"
    return _search_response(request, path, "GET")


@app.get("/collections/<collection_id>/items/<item_id>")
def item(collection_id: str, item_id: str) -> Response[str]:
    collection_id, item_id = unquote(collection_id), unquote(item_id)
    _known_collection(collection_id)
    found = index.get_item(collection_id, item_id)
    if found is None:
        raise _NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")
    return _json(_item_with_links(found, _base_url()), GEOJSON)


@app.get("/search")
def search_get() -> Response[str]:
    return _search_response(search_request(_get_parameters(), method="GET"), "/search", "GET")


@app.post("/search")
def search_post() -> Response[str]:
    try:
        body = json.loads(app.current_event.decoded_body or "{}")
    except json.JSONDecodeError as err:
        raise InputError(f"the body is not JSON ({err})", path="POST /search") from err
    if not isinstance(body, dict):
        raise InputError("the body is not a JSON object", path="POST /search")
    return _search_response(search_request(body, method="POST"), "/search", "POST")


@app.exception_handler(InputError)
def bad_request(error: InputError) -> Response[str]:
    return _error(400, "BadRequest", str(error))


@app.not_found
def not_found(_: Exception) -> Response[str]:
    path = app.current_event.path
    return _error(404, "NotFound", f"no resource at {path[:200]!r}")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) entry point."""
    metrics.add_metric(name="ApiRequests", unit=MetricUnit.Count, value=1)
    return app.resolve(event, context)


# -- request parsing -----------------------------------------------------------------------


def search_request(params: Mapping[str, Any], *, method: str) -> SearchRequest:
    """The search that GET query parameters or a POST body ask for; InputError when invalid.

    GET values are strings (lists comma-separated, ``intersects`` and ``query`` JSON); POST
    values are JSON values.
    """
    get = method == "GET"
    bbox = params.get("bbox")
    geometry = params.get("intersects")
    if bbox is not None and geometry is not None:
        raise InputError("give bbox or intersects, not both", path="bbox")
    if get and isinstance(geometry, str):
        geometry = _json_parameter(geometry, "intersects")
    if geometry is not None:
        _check_geometry(geometry, "intersects")
    if get and isinstance(bbox, str):
        bbox = bbox.split(",")
    start, end = _interval(params.get("datetime"))
    conditions = []
    if (query := params.get("query")) is not None:
        conditions.append(_query_filter(_json_parameter(query, "query") if get else query))
    if (cql2 := _filter(params, get)) is not None:
        conditions.append(cql2)
    return SearchRequest(
        collections=_strings(params.get("collections"), "collections"),
        ids=_strings(params.get("ids"), "ids"),
        bbox=_bbox(bbox) if bbox is not None else None,
        intersects=geometry,
        start=start,
        end=end,
        where=_all_true(conditions) if conditions else None,
        limit=_limit(params.get("limit")),
        token=_token(params.get("token")),
    )


def _get_parameters() -> dict[str, str]:
    return dict(app.current_event.query_string_parameters or {})


def _strings(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = value.split(",") if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise InputError("must be a list of non-empty strings", path=name)
    if len(values) > MAX_IDS:
        raise InputError(f"at most {MAX_IDS} values", path=name)
    return tuple(v.strip() for v in values)


def _bbox(value: Any) -> tuple[float, float, float, float]:
    """West, south, east, north of a 4- or 6-number bbox (``east < west``: antimeridian).

    ``value`` is a JSON array of numbers, or the strings of a GET parameter split at commas.
    """
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        try:
            value = [float(v) for v in value]
        except ValueError as err:
            raise InputError(f"{','.join(value)[:80]!r} are not numbers", path="bbox") from err
    if (
        not isinstance(value, list)
        or len(value) not in (4, 6)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise InputError("must be 4 or 6 numbers", path="bbox")
    half = len(value) // 2
    west, south, east, north = value[0], value[1], value[half], value[half + 1]
    if not (-90 <= south <= north <= 90 and -180 <= west <= 180 and -180 <= east <= 180):
        raise InputError(
            "longitudes must lie in [-180, 180] and latitudes in [-90, 90], south <= north",
            path="bbox",
        )
    return float(west), float(south), float(east), float(north)


def _interval(value: Any) -> tuple[datetime | None, datetime | None]:
    """An RFC 3339 instant, or a ``start/end`` interval with ``..`` or empty for an open end."""
    if value is None:
        return None, None
    if not isinstance(value, str):
        raise InputError("must be an RFC 3339 date-time or interval string", path="datetime")
    parts = value.split("/")
    if len(parts) == 1:
        instant = parse_datetime(value, "datetime")
        return instant, instant
    if len(parts) != 2 or all(p in ("", "..") for p in parts):
        raise InputError(f"{value[:80]!r} is not a valid interval", path="datetime")
    start, end = (None if p in ("", "..") else parse_datetime(p, "datetime") for p in parts)
    if start and end and start > end:
        raise InputError(f"{value[:80]!r} starts after it ends", path="datetime")
    return start, end


def _limit(value: Any) -> int:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value) if not isinstance(value, bool | float) else None
    except ValueError:
        limit = None
    if limit is None or limit < 1:
        raise InputError(f"{str(value)[:40]!r} is not a positive integer", path="limit")
    return min(limit, MAX_LIMIT)


def _token(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InputError("must be a string", path="token")
    return value


def _json_parameter(value: Any, name: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise InputError(f"is not JSON ({err})", path=name) from err


# -- query and filter extensions -----------------------------------------------------------

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


def _all_true(conditions: Sequence[Predicate]) -> Callable[[Mapping[str, Any]], bool]:
    return lambda item: all(c(item) is True for c in conditions)


def _query_filter(query: Any) -> Predicate:
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
    return _compile({"op": "and", "args": args} if len(args) > 1 else args[0])


def _filter(params: Mapping[str, Any], get: bool) -> Predicate | None:
    """The filter extension: ``filter`` in ``filter-lang`` (cql2-text for GET, else JSON)."""
    value = params.get("filter")
    if value is None or value == "":
        return None
    lang = params.get("filter-lang") or ("cql2-text" if get else "cql2-json")
    if lang == "cql2-text":
        if not isinstance(value, str):
            raise InputError("a cql2-text filter must be a string", path="filter")
        return _compile(Cql2TextParser(value).parse())
    if lang == "cql2-json":
        return _compile(_json_parameter(value, "filter"))
    raise InputError(f"unsupported filter-lang {str(lang)[:40]!r}", path="filter-lang")


def _compile(node: Any) -> Predicate:
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
    return lambda args: combine([_compile(a) for a in args]) if len(args) >= 2 else None


def _not(args: list[Any]) -> Predicate | None:
    if len(args) != 1:
        return None
    inner = _compile(args[0])
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
    return _compile({"op": "and", "args": [low, high]})


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
        literal = bbox_geometry(_bbox(node["bbox"]))
    else:
        literal = node
        _check_geometry(literal, "filter")
    return lambda _: literal


def _check_geometry(geometry: Any, where: str) -> None:
    """Raise InputError naming ``where`` unless ``geometry`` is a valid GeoJSON geometry."""
    try:
        geometry_bounds(geometry)
    except InputError as err:
        raise InputError(str(err), path=where) from err


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


# -- responses -----------------------------------------------------------------------------


def _search_response(request: SearchRequest, path: str, method: str) -> Response[str]:
    page: SearchPage = index.search(request)
    metrics.add_metric(name="Searches", unit=MetricUnit.Count, value=1)
    base = _base_url()
    url = f"{base}{path}"
    links = [_link("root", f"{base}/", JSON)]
    if method == "GET":
        query = _get_parameters()
        links.append(_link("self", f"{url}?{urlencode(query)}" if query else url, GEOJSON))
        if page.next_token:
            query["token"] = page.next_token
            links.append(_link("next", f"{url}?{urlencode(query)}", GEOJSON) | {"method": "GET"})
    else:
        links.append(_link("self", url, GEOJSON))
        if page.next_token:
            links.append(
                _link("next", url, GEOJSON)
                | {"method": "POST", "body": {"token": page.next_token}, "merge": True}
            )
    features = [_item_with_links(item, base) for item in page.items]
    body = {
        "type": "FeatureCollection",
        "features": features,
        "links": links,
        "numberReturned": len(features),
    }
    return _json(body, GEOJSON)


def _known_collection(collection_id: str) -> dict[str, Any]:
    found = index.get_collection(collection_id)
    if found is None:
        raise _NotFoundError(f"no collection {collection_id!r}")
    return found


class _NotFoundError(Exception):
    """An unknown collection or item (answered 404)."""


@app.exception_handler(_NotFoundError)
def _not_found_error(error: _NotFoundError) -> Response[str]:
    return _error(404, "NotFound", str(error))


def _collection_with_links(doc: dict[str, Any], base: str) -> dict[str, Any]:
    url = f"{base}/collections/{quote(doc['id'], safe='')}"
    own = {"self", "root", "parent", "items", QUERYABLES_REL}
    links = [link for link in doc.get("links", []) if link.get("rel") not in own]
    links += [
        _link("self", url, JSON),
        _link("root", f"{base}/", JSON),
        _link("parent", f"{base}/", JSON),
        _link("items", f"{url}/items", GEOJSON),
        _link(QUERYABLES_REL, f"{url}/queryables", SCHEMA),
    ]
    return doc | {"links": links}


def _item_with_links(item: dict[str, Any], base: str) -> dict[str, Any]:
    collection_url = f"{base}/collections/{quote(item['collection'], safe='')}"
    own = {"self", "root", "parent", "collection"}
    links = [link for link in item.get("links", []) if link.get("rel") not in own]
    links += [
        _link("self", f"{collection_url}/items/{quote(item['id'], safe='')}", GEOJSON),
        _link("parent", collection_url, JSON),
        _link("collection", collection_url, JSON),
        _link("root", f"{base}/", JSON),
    ]
    return item | {"links": links}


def _queryables(url: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": url,
        "type": "object",
        "title": "Queryables of sen2cloud items",
        "properties": QUERYABLE_PROPERTIES,
        "additionalProperties": True,
    }


def _openapi(base: str) -> dict[str, Any]:
    """A short OpenAPI 3.0 description of the routes (the landing page's ``service-desc``)."""
    ok = {"200": {"description": "OK"}}
    errors = {"400": {"description": "Bad request"}, "404": {"description": "Not found"}}
    path_parameter = {"in": "path", "required": True, "schema": {"type": "string"}}
    collection_id = {"name": "collectionId", **path_parameter}
    item_id = {"name": "itemId", **path_parameter}
    search_parameters = [
        {"name": name, "in": "query", "schema": {"type": "string"}}
        for name in (
            "bbox",
            "intersects",
            "datetime",
            "ids",
            "collections",
            "limit",
            "query",
            "filter",
            "filter-lang",
            "token",
        )
    ]

    def get(summary: str, *parameters: dict[str, Any]) -> dict[str, Any]:
        return {"get": {"summary": summary, "parameters": list(parameters), "responses": ok}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "sen2cloud STAC API", "version": STAC_VERSION},
        "servers": [{"url": base}],
        "paths": {
            "/": get("Landing page"),
            "/conformance": get("Conformance classes"),
            "/api": get("This document"),
            "/queryables": get("Queryable properties"),
            "/collections": get("Collections"),
            "/collections/{collectionId}": get("One collection", collection_id),
            "/collections/{collectionId}/queryables": get("Queryables", collection_id),
            "/collections/{collectionId}/items": get(
                "Items of a collection",
                collection_id,
                *(p for p in search_parameters if p["name"] not in ("ids", "collections")),
            ),
            "/collections/{collectionId}/items/{itemId}": get("One item", collection_id, item_id),
            "/search": {
                "get": {
                    "summary": "Item search",
                    "parameters": search_parameters,
                    "responses": ok | errors,
                },
                "post": {
                    "summary": "Item search",
                    "requestBody": {"content": {JSON: {"schema": {"type": "object"}}}},
                    "responses": ok | errors,
                },
            },
        },
    }


def _base_url() -> str:
    """The API's public URL: ``STAC_API_URL``, or the request's scheme, host and stage."""
    configured = os.environ.get(BASE_URL_VARIABLE)
    if configured:
        return configured.rstrip("/")
    event = app.current_event
    headers = event.headers
    scheme = headers.get("x-forwarded-proto", "https")
    host = headers.get("host") or event.request_context.domain_name
    stage = event.request_context.stage
    return f"{scheme}://{host}" + ("" if stage == "$default" else f"/{stage}")


def _link(rel: str, href: str, media_type: str) -> dict[str, Any]:
    return {"rel": rel, "href": href, "type": media_type}


def _json(body: Any, media_type: str = JSON, status: int = 200) -> Response[str]:
    return Response(status, media_type, json.dumps(body, separators=(",", ":")))


def _error(status: int, code: str, description: str) -> Response[str]:
    logger.info("refused", extra={"status": status, "description": description})
    return _json({"code": code, "description": description}, status=status)
