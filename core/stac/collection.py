"""The sen2cloud Sentinel-2 L2A collection: extent, summaries, item assets, providers, licence.

Modelled on the Planetary Computer / Earth Search ``sentinel-2-l2a`` collections (cloud anchors
§2.4): Copernicus licence (``other`` + licence link, STAC 1.1), ESA as producer and licensor,
sen2cloud as processor, ``item_assets`` (core in STAC 1.1) describing the plain-key assets of
:mod:`core.stac.assets` at their main resolution, and summaries of the fields items carry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import pystac

from core.bands import BY_NAME
from core.product.l2a_rasters import BOA_BANDS
from core.stac.assets import MAIN_RESOLUTION, LayerAsset, eo_band
from core.stac.item import (
    ESA_PROVIDER,
    LICENSE_HREF,
    SEN2CLOUD_PROVIDER,
    THUMBNAIL_KEY,
    THUMBNAIL_MEDIA_TYPE,
)

COLLECTION_ID: Final[str] = "sentinel-2-l2a"
COLLECTION_EXTENSIONS: Final[tuple[str, ...]] = (
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
)
MISSION_START: Final[datetime] = datetime(2015, 6, 27, tzinfo=UTC)
"""First Sentinel-2A acquisitions (launch 23 June 2015)."""
PLATFORMS: Final[list[str]] = ["sentinel-2a", "sentinel-2b", "sentinel-2c"]
GLOBAL_BBOX: Final[list[float]] = [-180.0, -90.0, 180.0, 90.0]


def _l2a_bands() -> list[str]:
    """Every band an L2A product holds at some resolution (all but B10), in band order."""
    present = {band for bands in BOA_BANDS.values() for band in bands}
    return [name for name in BY_NAME if name in present]


def item_asset_definitions() -> dict[str, pystac.ItemAssetDefinition | dict[str, Any]]:
    """The plain-key assets of an item (each layer at its main resolution) and the thumbnail."""
    layers = [LayerAsset("boa", BY_NAME[b].resolution, b) for b in _l2a_bands()]
    layers += [LayerAsset(name, MAIN_RESOLUTION[name]) for name in MAIN_RESOLUTION]
    definitions: dict[str, pystac.ItemAssetDefinition | dict[str, Any]] = {}
    for asset in layers:
        fields = asset.stac_fields()
        definitions[asset.key] = pystac.ItemAssetDefinition.create(
            title=fields.pop("title"),
            description=None,
            media_type=fields.pop("type"),
            roles=fields.pop("roles"),
            extra_fields=fields,
        )
    definitions[THUMBNAIL_KEY] = pystac.ItemAssetDefinition.create(
        title="Thumbnail image",
        description=None,
        media_type=THUMBNAIL_MEDIA_TYPE,
        roles=["thumbnail"],
    )
    return definitions


def create_collection(
    *,
    collection_id: str = COLLECTION_ID,
    bbox: list[float] | None = None,
    start: datetime = MISSION_START,
    end: datetime | None = None,
    host: pystac.Provider | None = None,
) -> pystac.Collection:
    """The L2A collection.

    Parameters
    ----------
    collection_id
        The collection's id (deployments set theirs, e.g. ``COLLECTION_ID`` of the template).
    bbox
        Spatial extent (default: the globe).
    start, end
        Temporal extent (default: the mission start, open-ended).
    host
        The provider hosting the data (role ``host``), added after ESA and sen2cloud.
    """
    providers = [
        pystac.Provider.from_dict(ESA_PROVIDER),
        pystac.Provider.from_dict(SEN2CLOUD_PROVIDER),
    ]
    if host is not None:
        providers.append(host)
    collection = pystac.Collection(
        id=collection_id,
        title="Sentinel-2 Level-2A (sen2cloud)",
        description=(
            "Sentinel-2 MSI surface reflectance (Level-2A) computed from Level-1C by sen2cloud, a "
            "Sen2Cor 2.12-compatible serverless processor: bottom-of-atmosphere reflectance COGs "
            "(uint16, scale 0.0001, offset -0.1), aerosol optical thickness, water vapour, scene "
            "classification, cloud and snow probabilities, a true-colour COG and a thumbnail."
        ),
        extent=pystac.Extent(
            pystac.SpatialExtent([bbox or GLOBAL_BBOX]),
            pystac.TemporalExtent([[start, end]]),
        ),
        license="other",
        keywords=["Sentinel-2", "Copernicus", "ESA", "MSI", "Level-2A", "Sen2Cor", "reflectance"],
        providers=providers,
        stac_extensions=list(COLLECTION_EXTENSIONS),
    )
    collection.item_assets = item_asset_definitions()
    collection.summaries.add("platform", PLATFORMS)
    collection.summaries.add("constellation", ["sentinel-2"])
    collection.summaries.add("instruments", ["msi"])
    collection.summaries.add("gsd", sorted(BOA_BANDS))
    collection.summaries.add("eo:bands", [eo_band(b) for b in _l2a_bands()])
    collection.summaries.add("eo:cloud_cover", pystac.RangeSummary(0.0, 100.0))
    collection.add_link(
        pystac.Link(
            "license", LICENSE_HREF, title="Legal notice on the use of Copernicus Sentinel Data"
        )
    )
    return collection
