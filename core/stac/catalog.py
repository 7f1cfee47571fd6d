"""A static STAC catalog tree for browsing, under a local folder or an ``s3://`` prefix.

Layout (STAC best practice for static catalogs: every link relative, no ``self`` links, so the
tree can be copied or served from anywhere)::

    <root>/catalog.json
    <root>/<collection id>/collection.json
    <root>/<collection id>/items/<item id>/<item id>.json

:func:`add_item` is idempotent: adding an item again replaces its document and keeps a single
link to it. Documents are validated offline before being written, and written leaf first (item,
collection, catalog) so a link never points at a missing file. Concurrent writers of the same
tree can lose each other's links (read-modify-write without locking): one writer per tree, e.g.
the catalog function with a reserved concurrency of 1.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pystac

from core.errors import OutputError
from core.io import storage
from core.stac.validate import validate_stac

CATALOG_ID: Final[str] = "sen2cloud"
CATALOG_FILE: Final[str] = "catalog.json"
COLLECTION_FILE: Final[str] = "collection.json"
ITEMS_DIR: Final[str] = "items"
JSON_TYPE: Final[str] = pystac.MediaType.JSON
GEOJSON_TYPE: Final[str] = pystac.MediaType.GEOJSON
_TREE_RELS: Final[frozenset[str]] = frozenset(
    {"self", "root", "parent", "collection", "child", "item"}
)


def add_item(root_uri: str, item: pystac.Item, collection: pystac.Collection) -> str:
    """Add ``item`` (and ``collection`` if the tree lacks it) to the static catalog at
    ``root_uri``; return the URI of the item document written.

    A new collection's extent is its first item's; it grows with every item added.

    Raises
    ------
    OutputError
        A document fails its schema, or cannot be read or written.
    """
    root = root_uri.rstrip("/")
    cid = collection.id
    item_rel = f"./{ITEMS_DIR}/{item.id}/{item.id}.json"
    item_uri = _join(root, cid, ITEMS_DIR, item.id, f"{item.id}.json")
    collection_uri = _join(root, cid, COLLECTION_FILE)
    catalog_uri = _join(root, CATALOG_FILE)

    item_doc = item.to_dict(include_self_link=False, transform_hrefs=False)
    item_doc["collection"] = cid
    item_doc["links"] = [
        *_tree_free(item_doc["links"]),
        _link("root", f"../../../{CATALOG_FILE}", JSON_TYPE),
        _link("parent", f"../../{COLLECTION_FILE}", JSON_TYPE),
        _link("collection", f"../../{COLLECTION_FILE}", JSON_TYPE),
    ]

    collection_doc = _read(collection_uri)
    if collection_doc is None:  # a new collection's extent is that of its first item
        collection_doc = collection.to_dict(include_self_link=False)
        collection_doc["extent"]["spatial"]["bbox"] = [list(item_doc["bbox"])]
        moment = item_doc["properties"]["datetime"]
        collection_doc["extent"]["temporal"]["interval"] = [[moment, moment]]
    links = [
        *_tree_free(collection_doc["links"]),
        _link("root", f"../{CATALOG_FILE}", JSON_TYPE),
        _link("parent", f"../{CATALOG_FILE}", JSON_TYPE),
    ]
    items = {link["href"]: link for link in collection_doc["links"] if link["rel"] == "item"}
    items[item_rel] = _link("item", item_rel, GEOJSON_TYPE)
    collection_doc["links"] = links + [items[href] for href in sorted(items)]
    _grow_extent(collection_doc, item_doc)

    catalog_doc = _read(catalog_uri) or {
        "type": "Catalog",
        "stac_version": pystac.get_stac_version(),
        "id": CATALOG_ID,
        "title": "sen2cloud products",
        "description": "Sentinel-2 Level-2A products made by sen2cloud.",
        "links": [],
    }
    children = {link["href"]: link for link in catalog_doc["links"] if link["rel"] == "child"}
    child_rel = f"./{cid}/{COLLECTION_FILE}"
    children[child_rel] = _link("child", child_rel, JSON_TYPE)
    catalog_doc["links"] = [
        *_tree_free(catalog_doc["links"]),
        _link("root", f"./{CATALOG_FILE}", JSON_TYPE),
        *(children[href] for href in sorted(children)),
    ]

    for uri, document in (
        (item_uri, item_doc),
        (collection_uri, collection_doc),
        (catalog_uri, catalog_doc),
    ):
        validate_stac(document)
        _write(uri, document)
    return item_uri


def _link(rel: str, href: str, media_type: str) -> dict[str, str]:
    return {"rel": rel, "href": href, "type": media_type}


def _tree_free(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``links`` without the structural ones this module owns."""
    return [link for link in links if link["rel"] not in _TREE_RELS]


def _grow_extent(collection: dict[str, Any], item: dict[str, Any]) -> None:
    """Widen the collection's first bbox and interval to include the item (an antimeridian
    crossing bbox, ``west > east``, widens the longitudes to the whole globe)."""
    extent = collection["extent"]
    west, south, east, north = extent["spatial"]["bbox"][0]
    i_west, i_south, i_east, i_north = item["bbox"]
    if i_west > i_east:
        i_west, i_east = -180.0, 180.0
    extent["spatial"]["bbox"][0] = [
        min(west, i_west),
        min(south, i_south),
        max(east, i_east),
        max(north, i_north),
    ]
    start, end = extent["temporal"]["interval"][0]
    moment = item["properties"]["datetime"]
    if start is None or _time(moment) < _time(start):
        start = moment
    if end is not None and _time(moment) > _time(end):  # an open end (None) stays open
        end = moment
    extent["temporal"]["interval"][0] = [start, end]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _join(root: str, *parts: str) -> str:
    return "/".join((root, *parts)) if storage.is_s3(root) else str(Path(root, *parts))


def _read(uri: str) -> dict[str, Any] | None:
    if not storage.exists(uri):
        return None
    try:
        document: dict[str, Any] = json.loads(storage.read_bytes(uri))
    except json.JSONDecodeError as err:
        raise OutputError(f"not a JSON document ({err})", path=uri) from err
    return document


def _write(uri: str, document: dict[str, Any]) -> None:
    data = json.dumps(document, indent=2).encode("utf-8")
    media_type = GEOJSON_TYPE if document.get("type") == "Feature" else JSON_TYPE
    storage.write_bytes(data, uri, content_type=media_type)
