"""Catalog function: the STAC API (1.0) of the published items, behind an API Gateway HTTP API.

Routes: landing page ``/``, ``/conformance``, ``/api`` (OpenAPI, the ``service-desc``),
``/queryables``, ``/collections[/{id}[/queryables|/items[/{itemId}]]]`` and item search
``/search`` (GET and POST) with ``bbox``, ``intersects``, ``datetime``, ``ids``,
``collections``, ``limit`` and token paging, plus the query extension and the filter extension
(CQL2 text and JSON, compiled by :mod:`handlers.cql2`). Requests are parsed and checked here
(geometries by :mod:`handlers.geometry`); the index (:mod:`handlers.stac_index`) finds the
items. A bad request is answered 400 and an unknown collection or item 404, with a STAC API
error body (``{"code", "description"}``). Path segments arrive percent-encoded (API Gateway's
``rawPath``) and are decoded here; links are built on ``STAC_API_URL`` or on the request's host
and stage.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, unquote, urlencode

import pystac
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, CORSConfig, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from core.errors import InputError
from handlers.cql2 import Cql2TextParser, Predicate, all_true, compile_cql2, query_predicate
from handlers.geometry import check_geometry, parse_bbox
from handlers.stac_index import SearchPage, SearchRequest, StacIndex, parse_datetime

STAC_VERSION: Final[str] = "1.1.0"
DEFAULT_LIMIT: Final[int] = 10
MAX_LIMIT: Final[int] = 1000
"""Largest page; a larger ``limit`` is lowered to it (STAC API item search)."""
MAX_IDS: Final[int] = 1000
"""Most ``ids`` or ``collections`` one search may name."""
JSON: Final[str] = pystac.MediaType.JSON
GEOJSON: Final[str] = pystac.MediaType.GEOJSON
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
        check_geometry(geometry, "intersects")
    if get and isinstance(bbox, str):
        bbox = bbox.split(",")
    start, end = _interval(params.get("datetime"))
    conditions = []
    if (query := params.get("query")) is not None:
        conditions.append(query_predicate(_json_parameter(query, "query") if get else query))
    if (cql2 := _filter(params, get)) is not None:
        conditions.append(cql2)
    return SearchRequest(
        collections=_strings(params.get("collections"), "collections"),
        ids=_strings(params.get("ids"), "ids"),
        bbox=parse_bbox(bbox) if bbox is not None else None,
        intersects=geometry,
        start=start,
        end=end,
        where=all_true(conditions) if conditions else None,
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


def _filter(params: Mapping[str, Any], get: bool) -> Predicate | None:
    """The filter extension: ``filter`` in ``filter-lang`` (cql2-text for GET, else JSON)."""
    value = params.get("filter")
    if value is None or value == "":
        return None
    lang = params.get("filter-lang") or ("cql2-text" if get else "cql2-json")
    if lang == "cql2-text":
        if not isinstance(value, str):
            raise InputError("a cql2-text filter must be a string", path="filter")
        return compile_cql2(Cql2TextParser(value).parse())
    if lang == "cql2-json":
        return compile_cql2(_json_parameter(value, "filter"))
    raise InputError(f"unsupported filter-lang {str(lang)[:40]!r}", path="filter-lang")


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
