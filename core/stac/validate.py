"""Offline JSON-schema validation of STAC documents.

The core STAC 1.1.0 schemas ship inside pystac (:func:`pystac.validation.local_validator.
get_local_schema_cache`); the extension schemas are vendored under ``core/stac/schemas``
(sources in its README). A :mod:`referencing` registry maps every schema URL to its local copy
and has no retriever, so validation never touches the network (a Lambda has no egress): a
document declaring an extension that is not vendored is refused instead of fetched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from pystac.validation.local_validator import get_local_schema_cache
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from core.errors import OutputError

SCHEMA_DIR: Final[Path] = Path(__file__).parent / "schemas"
EXTENSION_SCHEMAS: Final[dict[str, str]] = {
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json": (
        "classification_v2.0.0.json"
    ),
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json": "eo_v1.1.0.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json": "grid_v1.1.0.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json": "mgrs_v1.0.0.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json": "processing_v1.2.0.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json": "projection_v2.0.0.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json": "raster_v1.1.0.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json": "sat_v1.0.0.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json": "view_v1.0.0.json",
}
"""Extension schema URL -> vendored file: the extensions sen2cloud declares."""
CORE_SCHEMAS: Final[dict[str, str]] = {
    "Feature": "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json",
    "Collection": "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json",
    "Catalog": "https://schemas.stacspec.org/v1.1.0/catalog-spec/json-schema/catalog.json",
}
"""STAC ``type`` -> core schema URL (STAC 1.1.0, what pystac 1.15 writes)."""
MAX_MESSAGE: Final[int] = 300
"""Characters of a schema error message kept (jsonschema quotes whole sub-documents)."""


@cache
def _registry() -> Registry:
    """Every schema by URL; no retrieve function, so an unknown URL is an error, not a fetch."""
    contents: dict[str, Any] = dict(get_local_schema_cache())
    for url, name in EXTENSION_SCHEMAS.items():
        contents[url] = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    return Registry().with_resources(
        (url, Resource.from_contents(schema, default_specification=DRAFT7))
        for url, schema in contents.items()
    )


def _validator(url: str) -> Draft7Validator:
    registry = _registry()
    return Draft7Validator(registry.contents(url), registry=registry)


def validate_stac(document: Mapping[str, Any]) -> None:
    """Validate a STAC item, collection or catalog dictionary against its core schema and the
    schema of every extension it declares, offline.

    Raises
    ------
    OutputError
        Naming the document id, the schema and the first failing field, when the document is
        invalid or declares an extension whose schema is not vendored.
    """
    name = str(document.get("id", "<no id>"))
    kind = str(document.get("type"))
    if kind not in CORE_SCHEMAS:
        raise OutputError(f"not a STAC document (type {kind!r})", path=name)
    declared = [str(url) for url in document.get("stac_extensions", [])]
    unknown = sorted(set(declared) - set(EXTENSION_SCHEMAS))
    if unknown:
        raise OutputError(f"no vendored schema for the extensions {unknown}", path=name)
    for url in (CORE_SCHEMAS[kind], *declared):
        error = best_match(_validator(url).iter_errors(document))
        if error is not None:
            while error.context:  # a failed oneOf/anyOf: report the branch that came closest
                error = max(error.context, key=lambda e: len(e.absolute_path))
            where = "/".join(str(p) for p in error.absolute_path) or "(document)"
            message = error.message[:MAX_MESSAGE]
            raise OutputError(f"fails {url} at {where}: {message}", path=name)


def validate_item(item: Mapping[str, Any]) -> None:
    """Validate a STAC item dictionary offline (see :func:`validate_stac`)."""
    if item.get("type") != "Feature":
        raise OutputError("not a STAC item (type must be 'Feature')", path=str(item.get("id")))
    validate_stac(item)
