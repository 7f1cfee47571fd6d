"""The STAC API over real HTTP: moto's DynamoDB holds the index, the catalog handler serves it.

The index table comes from ``template.yaml`` (emulated stack); the items are the real
stactools-sentinel2 items of ``../shared/data`` (ids and collections adjusted), written with
:meth:`StacIndex.put_item`; STAC clients that know nothing of this project (pystac-client,
stac-api-validator) search them through :func:`infra.emulation.stac_api.serve`. Expected results
come from an independent oracle: shapely for geometry, Python datetimes and comparisons for
the rest.
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import boto3
import pystac
import pytest
import shapely
from cfnlint.decode import cfn_yaml
from openapi_spec_validator import validate as validate_openapi
from pystac_client import Client
from shapely.geometry import box, shape

from core.errors import InputError
from core.stac.validate import EXTENSION_SCHEMAS, SCHEMA_DIR
from handlers.geometry import intersects
from handlers.stac_index import TABLE_VARIABLE, SearchRequest, StacIndex
from infra.emulation.runtime import emulated_stack
from infra.emulation.stac_api import serve

STACTOOLS = "metadata/stactools-sentinel2"
L2A, L1C = "sentinel-2-l2a", "sentinel-2-l1c"
TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
Item = dict[str, Any]


@dataclass(frozen=True)
class Api:
    url: str
    items: list[Item]
    stack: Any

    def client(self) -> Client:
        return Client.open(self.url)


def _catalog_items(shared_data: Path) -> list[Item]:
    """The stactools items as our processor would publish them: unique ids (one with characters
    that need percent-encoding in a URL path), a collection, assets in the output bucket."""
    items = []
    for path in sorted((shared_data / STACTOOLS).glob("*/expected_output.json")):
        item = pystac.Item.from_dict(json.loads(path.read_text()))
        item.id = path.parent.name.removesuffix(".SAFE").replace("_T33XWJ_", " T33XWJ/#")
        item.collection_id = L2A if item.properties["s2:product_type"].endswith("2A") else L1C
        for key, asset in item.assets.items():
            asset.href = f"s3://sen2cloud-output/{item.collection_id}/{item.id}/{key}.tif"
        items.append(item.to_dict(include_self_link=False, transform_hrefs=False))
    return items


@pytest.fixture(scope="module")
def api(shared_data: Path, moto_endpoint: str) -> Iterator[Api]:
    items = _catalog_items(shared_data)
    with emulated_stack(endpoint=moto_endpoint) as emulation:
        function = emulation.stack.properties("CatalogFunction")
        server, url = serve(env=function["Environment"]["Variables"])
        index = StacIndex.from_env()
        for item in items:
            index.put_item(item)
        try:
            yield Api(url, items, emulation.stack)
        finally:
            server.shutdown()
            server.server_close()


# -- oracle --------------------------------------------------------------------------------


def _when(item: Item) -> datetime:
    return datetime.fromisoformat(item["properties"]["datetime"])


def _area(west: float, south: float, east: float, north: float) -> Any:
    if west <= east:
        return box(west, south, east, north)
    return box(west, south, 180, north).union(box(-180, south, east, north))


def _expected(
    items: list[Item],
    *,
    area: Any = None,
    start: str | None = None,
    end: str | None = None,
    where: Callable[[Item], bool] = lambda _: True,
) -> set[str]:
    return {
        item["id"]
        for item in items
        if (area is None or shape(item["geometry"]).intersects(area))
        and (start is None or _when(item) >= datetime.fromisoformat(start))
        and (end is None or _when(item) <= datetime.fromisoformat(end))
        and where(item)
    }


def _cloud(item: Item) -> float:
    return float(item["properties"]["eo:cloud_cover"])


def _baseline(item: Item) -> str:
    return str(item["properties"]["s2:processing_baseline"])


# -- searches ------------------------------------------------------------------------------

SEARCHES = [
    pytest.param(
        {
            "bbox": [170, -90, -170, 90],
            "datetime": "2020-01-01T00:00:00Z/..",
            "query": {"eo:cloud_cover": {"lt": 20}},
        },
        {
            "area": _area(170, -90, -170, 90),
            "start": "2020-01-01T00:00:00+00:00",
            "where": lambda i: _cloud(i) < 20,
        },
        id="antimeridian-bbox+open-interval+cloud<20",
    ),
    pytest.param(
        {"bbox": [-124, 36.5, -123, 37.5], "datetime": "2018-12-31T19:04:06.567Z"},
        {
            "area": _area(-124, 36.5, -123, 37.5),
            "start": "2018-12-31T19:04:06.567+00:00",
            "end": "2018-12-31T19:04:06.567+00:00",
        },
        id="bbox+instant",
    ),
    pytest.param(
        {
            "intersects": {"type": "Point", "coordinates": [-53.9, -37.5]},
            "datetime": "2021-01-01T00:00:00Z/2021-12-31T23:59:59Z",
        },
        {
            "area": shapely.Point(-53.9, -37.5),
            "start": "2021-01-01T00:00:00+00:00",
            "end": "2021-12-31T23:59:59+00:00",
        },
        id="intersects-point+closed-interval",
    ),
    pytest.param(
        {
            "datetime": "../2022-06-01T00:00:00+02:00",
            "query": {
                "eo:cloud_cover": {"gte": 50},
                "s2:processing_baseline": {"startsWith": "04"},
            },
        },
        {
            "end": "2022-05-31T22:00:00+00:00",
            "where": lambda i: _cloud(i) >= 50 and _baseline(i).startswith("04"),
        },
        id="open-start+two-queries",
    ),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("search", "truth"), SEARCHES)
def test_pystac_client_finds_exactly_the_expected_items(api, method, search, truth):
    expected = _expected(api.items, **truth)
    assert expected, "the search should match something"
    assert len(expected) < len(api.items), "the search should exclude something"
    found = [item.id for item in api.client().search(method=method, **search).items()]
    assert sorted(found) == sorted(expected)


FILTERS = [
    pytest.param(
        "eo:cloud_cover < 20 AND s2:processing_baseline >= '05.00'",
        {
            "op": "and",
            "args": [
                {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
                {"op": ">=", "args": [{"property": "s2:processing_baseline"}, "05.00"]},
            ],
        },
        lambda i: _cloud(i) < 20 and _baseline(i) >= "05.00",
        id="and",
    ),
    pytest.param(
        "platform = 'sentinel-2b' OR eo:cloud_cover BETWEEN 50 AND 60",
        {
            "op": "or",
            "args": [
                {"op": "=", "args": [{"property": "platform"}, "sentinel-2b"]},
                {"op": "between", "args": [{"property": "eo:cloud_cover"}, 50, 60]},
            ],
        },
        lambda i: i["properties"]["platform"] == "sentinel-2b" or 50 <= _cloud(i) <= 60,
        id="or+between",
    ),
    pytest.param(
        "datetime >= TIMESTAMP('2022-01-01T00:00:00Z') AND NOT collection = 'sentinel-2-l1c'",
        {
            "op": "and",
            "args": [
                {
                    "op": ">=",
                    "args": [{"property": "datetime"}, {"timestamp": "2022-01-01T00:00:00Z"}],
                },
                {"op": "not", "args": [{"op": "=", "args": [{"property": "collection"}, L1C]}]},
            ],
        },
        lambda i: (
            _when(i) >= datetime.fromisoformat("2022-01-01T00:00:00+00:00")
            and i["collection"] != L1C
        ),
        id="timestamp+not",
    ),
    pytest.param(
        "S_INTERSECTS(geometry, POLYGON((175 -81, 180 -81, 180 -70, 175 -70, 175 -81)))"
        " AND s2:processing_baseline IN ('02.12', '05.10')",
        {
            "op": "and",
            "args": [
                {
                    "op": "s_intersects",
                    "args": [
                        {"property": "geometry"},
                        {
                            "type": "Polygon",
                            "coordinates": [
                                [[175, -81], [180, -81], [180, -70], [175, -70], [175, -81]]
                            ],
                        },
                    ],
                },
                {"op": "in", "args": [{"property": "s2:processing_baseline"}, ["02.12", "05.10"]]},
            ],
        },
        lambda i: (
            shape(i["geometry"]).intersects(box(175, -81, 180, -70))
            and _baseline(i) in ("02.12", "05.10")
        ),
        id="s_intersects+in",
    ),
    pytest.param(
        "\"s2:product_uri\" LIKE 'S2A\\_MSIL2A%T01%' OR eo:cloud_cover IS NULL",
        {
            "op": "or",
            "args": [
                {"op": "like", "args": [{"property": "s2:product_uri"}, "S2A\\_MSIL2A%T01%"]},
                {"op": "isNull", "args": [{"property": "eo:cloud_cover"}]},
            ],
        },
        lambda i: (
            i["properties"].get("s2:product_uri", "").startswith("S2A_MSIL2A")
            and "T01" in i["properties"]["s2:product_uri"]
        ),
        id="like+isnull",
    ),
]


@pytest.mark.parametrize(("text", "cql2_json", "truth"), FILTERS)
def test_filter_extension_in_cql2_text_and_json(api, text, cql2_json, truth):
    expected = _expected(api.items, where=truth)
    assert expected
    assert len(expected) < len(api.items)
    client = api.client()
    by_text = client.search(method="GET", filter=text, filter_lang="cql2-text")
    by_json = client.search(method="POST", filter=cql2_json, filter_lang="cql2-json")
    assert sorted(i.id for i in by_text.items()) == sorted(expected)
    assert sorted(i.id for i in by_json.items()) == sorted(expected)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("search", "truth"),
    [
        pytest.param({}, {}, id="everything"),
        pytest.param(
            {"bbox": [170, -90, -170, 90]}, {"area": _area(170, -90, -170, 90)}, id="two-cells"
        ),
    ],
)
def test_paging_returns_every_item_once_newest_first(api, method, search, truth):
    pages = list(api.client().search(method=method, limit=3, **search).pages_as_dicts())
    found = [item for page in pages for item in page["features"]]
    ids = [item["id"] for item in found]
    expected = _expected(api.items, **truth)
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected
    assert len(pages) == math.ceil(len(expected) / 3)
    when = [_when(item) for item in found]
    assert when == sorted(when, reverse=True)
    assert "next" not in {link["rel"] for link in pages[-1]["links"]}


def test_ids_and_collections_restrict_the_search(api):
    client = api.client()
    l1c = {i["id"] for i in api.items if i["collection"] == L1C}
    assert 0 < len(l1c) < len(api.items)
    assert {i.id for i in client.search(collections=[L1C]).items()} == l1c
    some = sorted(l1c)[:1] + sorted({i["id"] for i in api.items} - l1c)[:2]
    assert sorted(i.id for i in client.search(ids=some).items()) == sorted(some)
    assert {i.id for i in client.search(ids=some, collections=[L1C]).items()} == set(some[:1])
    assert list(client.search(collections=["no-such-collection"]).items()) == []


def test_collections_and_items_are_browsable(api):
    client = api.client()
    collections = {c.id: c for c in client.get_collections()}
    assert set(collections) == {L1C, L2A}
    for collection_id, collection in collections.items():
        members = [i for i in api.items if i["collection"] == collection_id]
        interval = collection.extent.temporal.intervals[0]
        assert interval == [min(map(_when, members)), max(map(_when, members))]
        area = shapely.union_all([shape(i["geometry"]) for i in members])
        assert box(*collection.extent.spatial.bboxes[0]).contains(area)
        expected = members[0]
        item = collection.get_item(expected["id"])
        assert item is not None
        assert item.properties == expected["properties"]
        assert item.get_self_href().endswith(f"/collections/{collection_id}/items/{item.id}")
        browsed = {i.id for i in collection.get_items()}
        assert browsed == {i["id"] for i in members}


def test_an_item_is_found_by_its_percent_encoded_id(api):
    (expected,) = [i for i in api.items if "/#" in i["id"]]
    code, item = _request(api, f"/collections/{L2A}/items/{quote(expected['id'], safe='')}")
    assert code == 200
    assert item["id"] == expected["id"] and item["properties"] == expected["properties"]
    (self_link,) = [link for link in item["links"] if link["rel"] == "self"]
    assert self_link["href"].endswith(quote(expected["id"], safe=""))


def _request(api: Api, path: str, body: Any = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api.url + path, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/search?bbox=1,2,3", None, 400, "bbox: must be 4 or 6 numbers"),
        ("/search?bbox=0,10,1,5", None, 400, "south <= north"),
        ("/search?bbox=a,b,c,d", None, 400, "are not numbers"),
        ("/search?datetime=2020-01-01", None, 400, "not an RFC 3339 date-time"),
        ("/search?datetime=2021-01-01T00:00:00Z/2020-01-01T00:00:00Z", None, 400, "ends"),
        ("/search?limit=0", None, 400, "limit"),
        ("/search?token=!!!", None, 400, "invalid paging token"),
        ("/search?filter=eo:cloud_cover%20%3C", None, 400, "CQL2 text"),
        ("/search?query=%7B%22eo:cloud_cover%22:%7B%22near%22:1%7D%7D", None, 400, "near"),
        ("/search", {"bbox": [0, 0, 1, 1], "intersects": {"type": "Point"}}, 400, "not both"),
        ("/search", {"bbox": "0,0,1,1"}, 400, "bbox"),
        ("/search", {"intersects": {"type": "Circle", "coordinates": [0, 0]}}, 400, "Circle"),
        ("/search", {"filter": {"op": "t_before", "args": []}}, 400, "t_before"),
        ("/search", {"ids": "not-a-list", "limit": "many"}, 400, "limit"),
        ("/collections/no-such-collection", None, 404, "no-such-collection"),
        (f"/collections/{L2A}/items/no-such-item", None, 404, "no-such-item"),
        ("/no/such/route", None, 404, "/no/such/route"),
    ],
)
def test_bad_requests_are_refused_with_a_stac_error(api, path, body, status, message):
    code, answer = _request(api, path, body)
    assert code == status
    assert set(answer) == {"code", "description"}
    assert message in answer["description"]


def test_a_token_past_the_datetime_interval_gives_an_empty_last_page(api):
    position = json.dumps(["2000-01-01T00:00:00.000000Z#x", L2A]).encode()
    token = base64.urlsafe_b64encode(position).decode()
    code, page = _request(api, f"/search?datetime=2020-01-01T00:00:00Z/..&token={token}")
    assert code == 200 and page["features"] == []
    assert "next" not in {link["rel"] for link in page["links"]}


def test_limit_is_capped_and_a_page_never_exceeds_it(api):
    code, page = _request(api, "/search?limit=100000")
    assert code == 200 and len(page["features"]) == len(api.items)
    code, page = _request(api, "/search", {"limit": 2})
    assert code == 200 and page["numberReturned"] == 2
    (link,) = [link for link in page["links"] if link["rel"] == "next"]
    assert link["method"] == "POST" and link["merge"] is True and link["body"]["token"]


def test_service_description_is_valid_openapi_and_browsers_may_read(api):
    request = urllib.request.Request(api.url + "/api", headers={"Origin": "https://example.org"})
    with urllib.request.urlopen(request) as response:
        assert response.headers["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        spec = json.load(response)
    validate_openapi(spec)
    assert {"/", "/conformance", "/collections", "/search", "/queryables"} <= set(spec["paths"])
    assert set(spec["paths"]["/search"]) == {"get", "post"}


OFFLINE_VALIDATOR = """
import json, sys
from pystac.validation import RegisteredValidator
schemas = RegisteredValidator.get_validator().schema_cache
for url, path in json.loads(sys.argv.pop(1)).items():
    with open(path, encoding="utf-8") as file:
        schemas[url] = json.load(file)
from stac_api_validator.__main__ import main
main(prog_name="stac-api-validator")
"""
"""Runs stac-api-validator with pystac's schema cache holding the vendored extension schemas:
its last step validates the collections with pystac, which would fetch them (no network here)."""


def test_pages_stay_under_the_byte_budget_and_still_cover_everything(api):
    client = boto3.client("dynamodb", endpoint_url=api.stack.endpoint, region_name="us-east-1")
    index = StacIndex(api.stack.physical_name("CatalogIndexTable"), client)
    budget = 60_000  # two or three of these items
    pages, token = [], None
    while True:
        page = index.search(SearchRequest(limit=10, max_bytes=budget, token=token))
        pages.append(page.items)
        if not (token := page.next_token):
            break
    sizes = [sum(len(json.dumps(i, separators=(",", ":"))) for i in items) for items in pages]
    assert all(size <= budget for size in sizes)
    assert len(pages) > len(api.items) / 10 + 1  # the budget, not the limit, split the pages
    ids = [i["id"] for items in pages for i in items]
    assert sorted(ids) == sorted(i["id"] for i in api.items)


def test_stac_api_validator_reports_no_errors(api, tmp_path):
    schemas = {url: str(SCHEMA_DIR / name) for url, name in EXTENSION_SCHEMAS.items()}
    t10sdg = {
        "type": "Polygon",
        "coordinates": [[[-124, 37], [-122.5, 37], [-122.5, 38], [-124, 38], [-124, 37]]],
    }
    conformance = ["core", "item-search", "filter", "item-search#query"]
    query = {
        "comparison-field": "eo:cloud_cover",
        "eq-value": "2.779036",
        "neq-value": "2.779036",
        "lt-value": "10",
        "lte-value": "10",
        "gt-value": "10",
        "gte-value": "10",
        "substring-field": "s2:processing_baseline",
        "starts-with-value": "05",
        "ends-with-value": "09",
        "contains-value": "5.0",
        "in-field": "instruments",
        "in-values": "msi",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            OFFLINE_VALIDATOR,
            json.dumps(schemas),
            "--root-url",
            api.url,
            *(arg for c in conformance for arg in ("--conformance", c)),
            "--collection",
            L2A,
            "--geometry",
            json.dumps(t10sdg),
            "--validate-pagination",
            *(arg for k, v in query.items() for arg in (f"--query-{k}", v)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
    )
    report = result.stdout[result.stdout.find("Warnings:") :]
    assert "Errors: none" in report, report + result.stderr[-2000:]
    assert result.returncode == 0, report


# -- the index itself ----------------------------------------------------------------------


@pytest.fixture
def scratch(api) -> tuple[StacIndex, Any]:
    """An empty index table shaped as the template's, and its client."""
    props = cfn_yaml.load(str(TEMPLATE))["Resources"]["CatalogIndexTable"]["Properties"]
    client = boto3.client("dynamodb", endpoint_url=api.stack.endpoint, region_name="us-east-1")
    table = f"catalog-scratch-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode=props["BillingMode"],
    )
    return StacIndex(table, client), client


def _moved(item: Item, west: float, south: float, when: str) -> Item:
    """``item`` with a 1-degree square footprint at ``west, south`` (inside one cell)."""
    moved = json.loads(json.dumps(item))
    moved["geometry"] = json.loads(shapely.to_geojson(box(west, south, west + 1, south + 1)))
    moved["bbox"] = [west, south, west + 1, south + 1]
    moved["properties"]["datetime"] = when
    return moved


def _found_at(index: StacIndex, west: float, south: float) -> list[str]:
    request = SearchRequest(bbox=(west, south, west + 1, south + 1), limit=100)
    return [i["properties"]["datetime"] for i in index.search(request).items]


def _kinds_of_rows(client: Any, index: StacIndex) -> list[str]:
    rows = client.scan(TableName=index.table_name)["Items"]
    return sorted(r["pk"]["S"].split("#")[0] for r in rows)


def test_put_item_is_idempotent_and_follows_a_changed_footprint(api, scratch):
    index, client = scratch
    (item,) = [json.loads(json.dumps(i)) for i in api.items if "_T01LAC_" in i["id"]]
    west, south, east, north = shape(item["geometry"]).bounds
    assert west < -179 and east > 179, "the first footprint crosses the antimeridian: two cells"
    index.put_item(item)
    index.put_item(item)
    assert [i["id"] for i in index.search(SearchRequest(limit=100)).items] == [item["id"]]
    assert _kinds_of_rows(client, index) == ["cell", "cell", "collections", "item"]

    index.put_item(_moved(item, -8.5, 40.5, "2025-01-01T00:00:00Z"))
    assert index.search(SearchRequest(bbox=(west, south, east, north), limit=100)).items == []
    assert _found_at(index, -8.5, 40.5) == ["2025-01-01T00:00:00Z"]
    assert _kinds_of_rows(client, index) == ["cell", "collections", "item"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"collection": None}, "collection id 'None' is missing or invalid"),
        ({"collection": "a#b"}, "collection id 'a#b'"),
        ({"type": "FeatureCollection"}, "not a STAC item"),
        ({"geometry": None}, "needs a geometry"),
        ({"properties": {"datetime": None, "start_datetime": "2020-01-01T00:00:00Z"}}, "datetime"),
        ({"properties": {"datetime": "2020-01-01"}}, "not an RFC 3339 date-time"),
    ],
)
def test_put_item_refuses_what_it_cannot_index(api, scratch, change, message):
    index, client = scratch
    with pytest.raises(InputError, match=re.escape(message)):
        index.put_item(api.items[0] | change)
    assert client.scan(TableName=index.table_name)["Items"] == []


class _Interleaved:
    """A DynamoDB client that lets another writer in just before its first transaction."""

    def __init__(self, client: Any, other_writer: Callable[[], None]) -> None:
        self._client = client
        self._other_writer: Callable[[], None] | None = other_writer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        if self._other_writer is not None:
            other, self._other_writer = self._other_writer, None
            other()
        return self._client.transact_write_items(**kwargs)


def test_concurrent_writers_of_one_item_leave_no_stale_copy(api, scratch):
    index, client = scratch
    item = api.items[-1]
    index.put_item(_moved(item, 1.5, 1.5, "2024-01-01T00:00:00Z"))
    other = lambda: index.put_item(_moved(item, 21.5, 21.5, "2024-02-01T00:00:00Z"))  # noqa: E731
    racing = StacIndex(index.table_name, _Interleaved(client, other))
    racing.put_item(_moved(item, 41.5, 41.5, "2024-03-01T00:00:00Z"))
    # the racing writer read the first version, lost to the other writer, read again and won
    assert _found_at(index, 1.5, 1.5) == []
    assert _found_at(index, 21.5, 21.5) == []
    assert _found_at(index, 41.5, 41.5) == ["2024-03-01T00:00:00Z"]
    assert _kinds_of_rows(client, index) == ["cell", "collections", "item"]


def _random_geometry(rng: random.Random) -> dict:
    """A small geometry on an integer grid, so that touching and collinear cases are common."""

    def point() -> list[int]:
        return [rng.randint(0, 8), rng.randint(0, 8)]

    def polygon() -> list[list[list[int]]]:
        x, y = rng.randint(0, 6), rng.randint(0, 6)
        w, h = rng.randint(1, 3), rng.randint(1, 3)
        if rng.random() < 0.5:
            ring = [[x, y], [x + w, y], [x + w, y + h], [x, y + h], [x, y]]
        else:
            ring = [[x, y], [x + w, y], [x, y + h], [x, y]]
        if rng.random() < 0.3 and w >= 2 and h >= 2 and len(ring) == 5:
            hole = [[x + 0.5, y + 0.5], [x + w - 0.5, y + 0.5], [x + 0.5, y + h - 0.5]]
            return [ring, [*hole, hole[0]]]
        return [ring]

    kind = rng.choice(["Point", "MultiPoint", "LineString", "Polygon", "MultiPolygon"])
    if kind == "Point":
        return {"type": kind, "coordinates": point()}
    if kind == "MultiPoint":
        return {"type": kind, "coordinates": [point() for _ in range(3)]}
    if kind == "LineString":
        return {"type": kind, "coordinates": [point() for _ in range(rng.randint(2, 4))]}
    if kind == "Polygon":
        return {"type": kind, "coordinates": polygon()}
    return {"type": kind, "coordinates": [polygon(), polygon()]}


def test_intersects_agrees_with_shapely():
    rng = random.Random(6)
    shapes = [_random_geometry(rng) for _ in range(120)]
    shapes = [g for g in shapes if shape(g).is_valid]
    pairs = [(a, b) for a in shapes for b in shapes]
    disagree = [(a, b) for a, b in pairs if intersects(a, b) != shape(a).intersects(shape(b))]
    assert len(pairs) > 10_000
    assert sum(shape(a).touches(shape(b)) for a, b in pairs) > 500  # boundary cases are tested
    assert disagree == []


def test_catalog_function_only_reads_its_index():
    resources = cfn_yaml.load(str(TEMPLATE))["Resources"]
    function = resources["CatalogFunction"]["Properties"]
    assert function["ImageConfig"]["Command"] == ["handlers.catalog.handler"]
    assert [e["Type"] for e in function["Events"].values()] == ["HttpApi"]
    assert function["Environment"]["Variables"][TABLE_VARIABLE] == {"Ref": "CatalogIndexTable"}
    role = resources[function["Role"]["Fn::GetAtt"][0]]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    reads = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
    for statement in statements:
        actions = set(statement["Action"])
        if any(a.startswith("dynamodb:") for a in actions):
            assert actions <= reads, statement["Sid"]
            assert statement["Resource"] == {"Fn::GetAtt": ["CatalogIndexTable", "Arn"]}
        else:
            assert all(a.split(":")[0] in ("logs", "xray") for a in actions), statement["Sid"]
