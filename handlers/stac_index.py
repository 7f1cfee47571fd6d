"""The catalog index: published STAC items on one DynamoDB table, and item search over it.

Why DynamoDB. The catalog must stay serverless (no database to run, pay per request, nothing to
size), take a write from every processor invocation as soon as its item is published (idempotent
upserts, concurrent writers) and answer STAC searches in tens of milliseconds. DynamoDB does all
of that with the AWS SDK already in the function image, and moto emulates it over HTTP for the
local stack. stac-geoparquet + DuckDB (stac-fastapi-geoparquet) shines for bulk analytics over
static snapshots, but every new item means rewriting a Parquet file (or compacting many small
ones) and DuckDB adds a large native dependency to the function; it fits the static export, not
the live index.

Layout (partition key ``pk``, sort key ``sk``, all strings; no secondary index):

``pk = "collections"``, ``sk = <collection id>``
    The collection document (``doc``, JSON): the one stored by :meth:`StacIndex.put_collection`
    or, for a collection first seen on an item, sen2cloud's (:mod:`core.stac.collection`) with
    the extent of the indexed items; the set of spatial cells holding its items (``cells``) and
    its first and last item datetimes (``first``, ``last``).
``pk = "item#<collection>"``, ``sk = <item id>``
    The item (``doc``), its search key (``key``), cells and ``version`` (writes are
    conditional on it): the direct lookup for ``ids`` and ``/collections/{c}/items/{id}``.
``pk = "cell#<collection>#<cell>"``, ``sk = <datetime>#<item id>``
    One copy of the item per 10-degree cell its bounding box touches: a search queries only
    the cells of the requested collections that overlap its ``bbox``/``intersects`` and that
    hold items, newest first, with the ``datetime`` interval as the key range. Geometry,
    ``ids``, ``query`` and ``filter`` conditions are then checked in Python on the stored item.

Results are ordered by (datetime, item id, collection), newest first; the paging token is the
position of the last item returned, so a page never repeats or skips an item whatever is written
meanwhile before that position.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import heapq
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Final

import boto3

from core.errors import ConfigError, InputError
from core.stac.collection import create_collection
from handlers.geometry import (
    BBox,
    Geometry,
    bbox_geometry,
    geometry_bounds,
    intersects,
    split_antimeridian,
)

CELL_DEGREES: Final[int] = 10
"""Side of the spatial cells that partition the index. A Sentinel-2 tile (110 km) lies in one
or two cells; a regional search queries a handful."""
MAX_ITEM_CELLS: Final[int] = 32
"""Items whose bounding box spans more cells than this are kept in one cell queried by every
search (:data:`WIDE_CELL`) instead of being copied into each."""
WIDE_CELL: Final[str] = "wide"
MAX_ITEM_BYTES: Final[int] = 350_000
"""Largest item JSON accepted (DynamoDB limits an item to 400 KB with its keys)."""
QUERY_PAGE: Final[int] = 100
"""Most rows read per DynamoDB query call (items of about 30 KB each, < 1 MB of result)."""
PARALLEL_QUERIES: Final[int] = 16
"""Cells whose first page a search reads at the same time."""
BATCH_GET_KEYS: Final[int] = 100
"""DynamoDB's limit on keys per BatchGetItem call."""
PUT_ATTEMPTS: Final[int] = 5
"""Tries of :meth:`StacIndex.put_item` when concurrent writers of one item keep conflicting."""
TABLE_VARIABLE: Final[str] = "STAC_INDEX_TABLE"
"""Environment variable naming the index table (set by ``template.yaml``)."""
COLLECTION_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""Accepted collection ids (no ``#``, which separates the parts of a partition key)."""
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """An item search; every condition given must hold (STAC API item search)."""

    collections: tuple[str, ...] | None = None
    ids: tuple[str, ...] | None = None
    bbox: BBox | None = None
    """West, south, east, north in degrees; ``east < west`` crosses the antimeridian."""
    intersects: Geometry | None = None
    start: datetime | None = None
    """Inclusive bounds of the item ``datetime``; ``None`` is open."""
    end: datetime | None = None
    where: Callable[[Mapping[str, Any]], bool] | None = None
    """Further condition on the item (the query and filter extensions)."""
    limit: int = 10
    max_bytes: int = 5_000_000
    """Most item JSON in one page (Lambda returns at most 6 MB); the first item always fits."""
    token: str | None = None
    """Position after which the page starts (:attr:`SearchPage.next_token` of the previous)."""


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results, newest first, and the token of the next page (``None``: last)."""

    items: list[dict[str, Any]]
    next_token: str | None


@dataclass(frozen=True, slots=True, order=True)
class _Position:
    """Where an item sorts: its search key (``<datetime>#<id>``), then its collection."""

    key: str
    collection: str

    def token(self) -> str:
        raw = json.dumps([self.key, self.collection], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> _Position:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            key, collection = json.loads(raw)
        except (binascii.Error, ValueError, TypeError) as err:
            raise InputError(f"invalid paging token {token[:40]!r}", path="token") from err
        if not isinstance(key, str) or not isinstance(collection, str):
            raise InputError(f"invalid paging token {token[:40]!r}", path="token")
        return cls(key, collection)


class StacIndex:
    """Write and search the published items of the DynamoDB table ``table_name``."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self.table_name = table_name
        self._db = client if client is not None else boto3.client("dynamodb")

    @classmethod
    def from_env(cls) -> StacIndex:
        """The index named by ``STAC_INDEX_TABLE`` (the endpoint follows ``AWS_ENDPOINT_URL``)."""
        name = os.environ.get(TABLE_VARIABLE)
        if not name:
            raise ConfigError("environment variable is not set", key=TABLE_VARIABLE)
        return cls(name)

    # -- writing ---------------------------------------------------------------------------

    def put_item(self, item: Mapping[str, Any]) -> None:
        """Insert or replace ``item`` (a STAC item dict with ``collection``); idempotent.

        Copies left in cells the item no longer touches (a changed footprint or datetime) are
        removed in the same transaction. The transaction holds only if the item's row is still
        the version read before it (optimistic locking); a concurrent writer makes it read and
        try again.
        """
        entry = _Entry.of(item)
        for attempt in range(1, PUT_ATTEMPTS + 1):
            old = self._db.get_item(
                TableName=self.table_name,
                Key=_key(f"item#{entry.collection}", entry.item_id),
                ProjectionExpression="#key, #cells, #version",
                ExpressionAttributeNames=_names("#key #cells #version"),
                ConsistentRead=True,
            ).get("Item")
            try:
                self._db.transact_write_items(TransactItems=self._writes(entry, old))
                break
            except self._db.exceptions.TransactionCanceledException as err:
                reasons = err.response.get("CancellationReasons", [])
                conflict = any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)
                if not conflict or attempt == PUT_ATTEMPTS:
                    raise
        self._widen_interval(entry.collection, entry.key[: entry.key.index("#")])

    def _writes(self, entry: _Entry, old: Mapping[str, Any] | None) -> list[dict[str, Any]]:
        """The transaction replacing the rows of ``old`` (the item row read, or None) by
        those of ``entry``."""
        collection = entry.collection
        new_rows = {(f"cell#{collection}#{cell}", entry.key) for cell in entry.cells}
        old_rows = (
            {(f"cell#{collection}#{cell}", old["key"]["S"]) for cell in old["cells"]["SS"]}
            if old
            else set()
        )
        version = int(old["version"]["N"]) if old else 0
        doc = {"S": entry.doc}
        item_row = {
            "doc": doc,
            "key": {"S": entry.key},
            "cells": {"SS": list(entry.cells)},
            "version": {"N": str(version + 1)},
        }
        unchanged: dict[str, Any] = (
            {
                "ConditionExpression": "#version = :version",
                "ExpressionAttributeNames": _names("#version"),
                "ExpressionAttributeValues": {":version": {"N": str(version)}},
            }
            if old
            else {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": _names("#pk"),
            }
        )
        return [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": _key(f"item#{collection}", entry.item_id) | item_row,
                }
                | unchanged
            },
            *(
                {"Put": {"TableName": self.table_name, "Item": _key(pk, sk) | {"doc": doc}}}
                for pk, sk in sorted(new_rows)
            ),
            *(
                {"Delete": {"TableName": self.table_name, "Key": _key(pk, sk)}}
                for pk, sk in sorted(old_rows - new_rows)
            ),
            {
                "Update": {
                    "TableName": self.table_name,
                    "Key": _key("collections", collection),
                    "UpdateExpression": "SET #doc = if_not_exists(#doc, :doc), "
                    "#generated = if_not_exists(#generated, :true) ADD #cells :cells",
                    "ExpressionAttributeNames": _names("#doc #generated #cells"),
                    "ExpressionAttributeValues": {
                        ":doc": {"S": _generated_collection(collection)},
                        ":true": {"BOOL": True},
                        ":cells": {"SS": list(entry.cells)},
                    },
                }
            },
        ]

    def put_collection(self, collection: Mapping[str, Any]) -> None:
        """Store the collection document ``collection`` (replacing a generated one)."""
        collection_id = _collection_id(collection.get("id"), "collection")
        self._db.update_item(
            TableName=self.table_name,
            Key=_key("collections", collection_id),
            UpdateExpression="SET #doc = :doc, #generated = :false",
            ExpressionAttributeNames=_names("#doc #generated"),
            ExpressionAttributeValues={
                ":doc": {"S": json.dumps(dict(collection))},
                ":false": {"BOOL": False},
            },
        )

    def _widen_interval(self, collection: str, when: str) -> None:
        """Move the collection's first/last item datetimes out to ``when`` where needed."""
        for name, test in (("#first", ">"), ("#last", "<")):
            with contextlib.suppress(self._db.exceptions.ConditionalCheckFailedException):
                self._db.update_item(
                    TableName=self.table_name,
                    Key=_key("collections", collection),
                    UpdateExpression=f"SET {name} = :when",
                    ConditionExpression=f"attribute_not_exists({name}) OR {name} {test} :when",
                    ExpressionAttributeNames=_names(name),
                    ExpressionAttributeValues={":when": {"S": when}},
                )  # a failed condition: already as wide

    # -- reading ---------------------------------------------------------------------------

    def get_item(self, collection: str, item_id: str) -> dict[str, Any] | None:
        """The item ``item_id`` of ``collection``, or ``None``."""
        row = self._db.get_item(
            TableName=self.table_name, Key=_key(f"item#{collection}", item_id)
        ).get("Item")
        return json.loads(row["doc"]["S"]) if row else None

    def collections(self) -> list[dict[str, Any]]:
        """Every collection document, by id (extent filled in for generated ones)."""
        rows = _paged(
            self._db,
            TableName=self.table_name,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames=_names("#pk"),
            ExpressionAttributeValues={":pk": {"S": "collections"}},
        )
        return [_collection_doc(row) for row in rows]

    def get_collection(self, collection: str) -> dict[str, Any] | None:
        """The document of ``collection``, or ``None`` when it has no item and was not put."""
        row = self._db.get_item(TableName=self.table_name, Key=_key("collections", collection)).get(
            "Item"
        )
        return _collection_doc(row) if row else None

    def search(self, request: SearchRequest) -> SearchPage:
        """The page of items matching ``request`` after ``request.token``.

        A page holds at most ``request.limit`` items and, past the first, at most
        ``request.max_bytes`` of item JSON; a next token is given when more may match.
        """
        after = _Position.from_token(request.token) if request.token else None
        page: list[dict[str, Any]] = []
        size, seen, taken = 0, None, None
        for position, doc in self._candidates(request, after):
            if position == seen or (after is not None and position >= after):
                continue  # a copy of the item from another cell, or already paged past
            seen = position
            item = json.loads(doc)
            if not _matches(item, request):
                continue
            if taken and (len(page) >= request.limit or size + len(doc) > request.max_bytes):
                return SearchPage(page, taken.token())
            page.append(item)
            size, taken = size + len(doc), position
        return SearchPage(page, None)

    def _candidates(
        self, request: SearchRequest, after: _Position | None
    ) -> Iterator[tuple[_Position, str]]:
        """Items (JSON) that may match, newest first (copies of one item come one after another)."""
        rows = self._collection_rows(request.collections)
        if request.ids is not None:
            keys = [_key(f"item#{c}", i) for c in rows for i in dict.fromkeys(request.ids)]
            found = [
                (_Position(row["key"]["S"], row["pk"]["S"].removeprefix("item#")), row)
                for row in self._batch_get(keys)
            ]
            found.sort(key=lambda pair: pair[0], reverse=True)
            yield from ((p, row["doc"]["S"]) for p, row in found)
            return
        low = _sort_key(request.start) if request.start else "0000"
        high = _sort_key(request.end) + "$" if request.end else "9999$"
        if after is not None:
            high = min(high, after.key)
        if low > high:
            return  # paged past the start of the interval
        areas = _search_areas(request)
        partitions = [
            (collection, cell)
            for collection, row in rows.items()
            for cell in sorted(set(row.get("cells", {}).get("SS", [])))
            if cell == WIDE_CELL or areas is None or any(_cell_overlaps(cell, a) for a in areas)
        ]
        streams = self._cell_streams(partitions, low, high, min(QUERY_PAGE, request.limit + 1))
        yield from heapq.merge(*streams, key=lambda pair: pair[0], reverse=True)

    def _collection_rows(self, wanted: Sequence[str] | None) -> dict[str, dict[str, Any]]:
        if wanted is None:
            rows: Iterable[dict[str, Any]] = _paged(
                self._db,
                TableName=self.table_name,
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "collections"}},
                ProjectionExpression="#sk, #cells",
                ExpressionAttributeNames=_names("#pk #sk #cells"),
            )
        else:
            keys = [_key("collections", c) for c in dict.fromkeys(wanted)]
            rows = list(self._batch_get(keys, projection="#sk, #cells"))
        return {row["sk"]["S"]: row for row in rows}

    def _cell_streams(
        self, partitions: list[tuple[str, str]], low: str, high: str, page_size: int
    ) -> list[Iterator[tuple[_Position, str]]]:
        """Rows of each (collection, cell) between the keys ``low`` and ``high``, newest first;
        the first page of every cell is read at once, in parallel."""
        queries = [
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
                "ExpressionAttributeNames": _names("#pk #sk"),
                "ExpressionAttributeValues": {
                    ":pk": {"S": f"cell#{collection}#{cell}"},
                    ":low": {"S": low},
                    ":high": {"S": high},
                },
                "ScanIndexForward": False,
                "Limit": page_size,
            }
            for collection, cell in partitions
        ]
        with ThreadPoolExecutor(max_workers=PARALLEL_QUERIES) as pool:
            first_pages = list(pool.map(lambda query: self._db.query(**query), queries))
        return [
            _positioned(collection, _paged(self._db, first_page, **query))
            for (collection, _), query, first_page in zip(
                partitions, queries, first_pages, strict=True
            )
        ]

    def _batch_get(
        self, keys: list[dict[str, Any]], projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        for start in range(0, len(keys), BATCH_GET_KEYS):
            request: dict[str, Any] = {"Keys": keys[start : start + BATCH_GET_KEYS]}
            if projection:
                request["ProjectionExpression"] = projection
                request["ExpressionAttributeNames"] = _names(projection)
            pending = {self.table_name: request}
            while pending:
                answer = self._db.batch_get_item(RequestItems=pending)
                yield from answer["Responses"].get(self.table_name, [])
                pending = answer.get("UnprocessedKeys") or {}


# -- items ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """An item checked for indexing: ids, search key, cells and JSON."""

    collection: str
    item_id: str
    key: str
    cells: tuple[str, ...]
    doc: str

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> _Entry:
        item_id = item.get("id")
        if item.get("type") != "Feature" or not isinstance(item_id, str) or not item_id:
            raise InputError("not a STAC item (type Feature with an id)", path="item")
        where = f"item {item_id[:80]!r}"
        collection = _collection_id(item.get("collection"), where)
        properties = item.get("properties")
        when = properties.get("datetime") if isinstance(properties, Mapping) else None
        if not isinstance(when, str):
            raise InputError("the index needs properties.datetime", path=where)
        geometry = item.get("geometry")
        if not isinstance(geometry, Mapping):
            raise InputError("the index needs a geometry", path=where)
        bbox = item.get("bbox")
        if (
            isinstance(bbox, Sequence)
            and len(bbox) in (4, 6)
            and all(isinstance(v, int | float) and math.isfinite(v) for v in bbox)
        ):
            half = len(bbox) // 2
            west, south, east, north = bbox[0], bbox[1], bbox[half], bbox[half + 1]
        else:
            west, south, east, north = geometry_bounds(geometry)
        doc = json.dumps(item, separators=(",", ":"))
        if len(doc.encode()) > MAX_ITEM_BYTES:
            raise InputError(f"item JSON larger than {MAX_ITEM_BYTES} bytes", path=where)
        cells = _cells((west, south, east, north))
        return cls(
            collection=collection,
            item_id=item_id,
            key=f"{_sort_key(parse_datetime(when, where))}#{item_id}",
            cells=cells if len(cells) <= MAX_ITEM_CELLS else (WIDE_CELL,),
            doc=doc,
        )


def _matches(item: Mapping[str, Any], request: SearchRequest) -> bool:
    """Whether ``item`` meets the conditions of ``request`` (the index keys only narrow)."""
    if request.ids is not None and item.get("id") not in request.ids:
        return False
    if request.start or request.end:
        when = parse_datetime(item["properties"]["datetime"], "item datetime")
        if (request.start and when < request.start) or (request.end and when > request.end):
            return False
    geometry = item.get("geometry") or {}
    if request.bbox is not None and not intersects(geometry, bbox_geometry(request.bbox)):
        return False
    if request.intersects is not None and not intersects(geometry, request.intersects):
        return False
    return request.where is None or request.where(item)


def _collection_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not COLLECTION_ID.fullmatch(value):
        raise InputError(f"collection id {str(value)[:80]!r} is missing or invalid", path=where)
    return value


@cache
def _generated_collection(collection: str) -> str:
    """The sen2cloud collection document (JSON) for a collection first seen on an item (its
    extent is filled from the index on reading)."""
    doc = create_collection(collection_id=collection)
    return json.dumps(doc.to_dict(include_self_link=False, transform_hrefs=False))


def _collection_doc(row: Mapping[str, Any]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row["doc"]["S"])
    if row.get("generated", {}).get("BOOL"):
        cells = [c for c in row.get("cells", {}).get("SS", []) if c != WIDE_CELL]
        wide = len(cells) < len(row.get("cells", {}).get("SS", []))
        bounds = [_cell_bounds(c) for c in cells]
        spatial = [-180.0, -90.0, 180.0, 90.0]
        if bounds and not wide:
            west, south, east, north = zip(*bounds, strict=True)
            spatial = [min(west), min(south), max(east), max(north)]
        interval = [
            _from_sort_key(row[name]["S"]) if name in row else None for name in ("first", "last")
        ]
        doc["extent"] = {"spatial": {"bbox": [spatial]}, "temporal": {"interval": [interval]}}
    return doc


# -- keys, cells and datetimes -------------------------------------------------------------


def _names(expression: str) -> dict[str, str]:
    """``#name -> name`` for the names an expression uses (DynamoDB reserves many words)."""
    return {name: name[1:] for name in re.findall(r"#\w+", expression)}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _paged(
    db: Any, first: Mapping[str, Any] | None = None, **query: Any
) -> Iterator[dict[str, Any]]:
    """Every row of a DynamoDB query (whose first answer may be given), following
    ``LastEvaluatedKey``."""
    answer = first if first is not None else db.query(**query)
    while True:
        yield from answer["Items"]
        if "LastEvaluatedKey" not in answer:
            return
        query["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        answer = db.query(**query)


def _positioned(collection: str, rows: Iterable[dict[str, Any]]) -> Iterator[tuple[_Position, str]]:
    for row in rows:
        yield _Position(row["sk"]["S"], collection), row["doc"]["S"]


def parse_datetime(text: str, where: str) -> datetime:
    """An RFC 3339 date-time (``Z`` or numeric offset; fractions beyond microseconds dropped).

    Raises InputError naming ``where`` for anything else (dates alone, missing offsets).
    """
    match = _RFC3339.fullmatch(text.strip())
    if not match:
        raise InputError(f"{text[:60]!r} is not an RFC 3339 date-time", path=where)
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7) or "", match.group(8).upper()
    leap = second == 60  # a leap second is the last instant of its minute
    try:
        value = datetime(
            year, month, day, hour, minute, 59 if leap else second, int(fraction[:6].ljust(6, "0"))
        )
    except ValueError as err:
        raise InputError(f"{text[:60]!r} is not a valid date-time ({err})", path=where) from err
    if offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise InputError(f"{text[:60]!r} has an invalid UTC offset", path=where)
        value -= sign * timedelta(hours=hours, minutes=minutes)
    return value.replace(tzinfo=UTC)


def _sort_key(when: datetime) -> str:
    """Fixed-width UTC text of ``when`` that sorts as the instants do."""
    utc = when.astimezone(UTC)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}Z"


def _from_sort_key(key: str) -> str:
    return key.split("#", 1)[0]


def _cells(bbox: BBox) -> tuple[str, ...]:
    """The cells a bounding box touches (``east < west`` crosses the antimeridian)."""
    return tuple(
        f"{column}/{row}"
        for west, south, east, north in split_antimeridian(bbox)
        for column in range(_cell_index(west, 180), _cell_index(east, 180) + 1)
        for row in range(_cell_index(south, 90), _cell_index(north, 90) + 1)
    )


def _cell_index(degrees: float, half_range: int) -> int:
    last = 2 * half_range // CELL_DEGREES - 1
    return min(max(math.floor((degrees + half_range) / CELL_DEGREES), 0), last)


def _cell_bounds(cell: str) -> BBox:
    column, row = (int(part) for part in cell.split("/"))
    west, south = column * CELL_DEGREES - 180, row * CELL_DEGREES - 90
    return west, south, west + CELL_DEGREES, south + CELL_DEGREES


def _cell_overlaps(cell: str, area: BBox) -> bool:
    west, south, east, north = _cell_bounds(cell)
    return west <= area[2] and area[0] <= east and south <= area[3] and area[1] <= north


def _search_areas(request: SearchRequest) -> list[BBox] | None:
    """Bounding boxes (none crossing the antimeridian) a match must touch; ``None``: anywhere."""
    areas = None
    if request.bbox is not None:
        areas = split_antimeridian(request.bbox)
    if request.intersects is not None:
        areas = [geometry_bounds(request.intersects)]
    return areas
