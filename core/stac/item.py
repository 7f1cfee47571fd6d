"""The STAC item of one L2A scene, with stactools-sentinel2 0.8 property names.

Compared field by field with stactools' items (``tests/test_stac.py`` checks the values against
``expected_output.json`` of a real product):

* same: ``id`` (``S2A_T46RER_<datastrip sensing start>_L2A``, stable across reprocessing),
  ``datetime`` (``PRODUCT_START_TIME``), ``platform``, ``constellation``, ``instruments``,
  ``eo:cloud_cover`` / ``eo:snow_cover``, ``view:*`` (means of the tile's angle grids),
  ``proj:code`` and ``proj:centroid`` (projection v2.0.0; no ``proj:epsg``, which v2.0.0
  forbids), ``sat:orbit_state`` / ``sat:relative_orbit``, ``mgrs:*``, zero-padded
  ``grid:code``, the thirteen ``s2:*_percentage`` fields, ``s2:product_uri``,
  ``s2:generation_time``, ``s2:processing_baseline``, ``s2:datatake_id``, ``s2:datastrip_id``,
  ``s2:tile_id``, ``s2:datatake_type``, ``s2:product_type``, ``s2:reflectance_conversion_factor``,
  per-asset ``proj:shape`` / ``proj:transform`` / ``proj:bbox``, ``raster:bands``,
  ``classification:classes`` of the SCL, the licence link.
* different: the percentages come from our SCL (:func:`image_content_qi`, Sen2Cor's rules), not
  from an ESA MTD file; ``s2:*`` ids are those of the L2A product this processor makes (its
  generation time and baseline); the geometry is the footprint of the valid SCL pixels
  (stactools: the ESA product footprint); ``eo:bands`` use Sen2Cor's GIPP centre wavelengths
  and bandwidths (stactools: ESA's spectral response table, e.g. B02 FWHM 0.065 vs 0.098 µm);
  ``sat:absolute_orbit`` and ``processing:*`` (extension v1.2.0) are added; ``providers``
  names sen2cloud as the processor beside ESA; assets are COGs with Earth Search keys and a
  PNG ``thumbnail`` (no JP2, PVI or SAFE metadata assets); the Sentinel-2 extension is not
  declared: the only copy of its v1.0.0 schema we could vendor forbids ``s2:tile_id``, which
  stactools writes.
* links: ``derived_from`` the L1C input, ``license``; the static catalog adds
  ``self``/``parent``/``root``/``collection``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import pystac
from rasterio.transform import array_bounds

import core
from core.errors import OutputError
from core.io import storage
from core.io.xml import find_text, parse_xml_bytes
from core.product.encoded_layers import EncodedKey, EncodedLayer
from core.product.l1c import L1CProduct
from core.product.l2a import DEFAULT_BASELINE, L2ALayers
from core.product.l2a_quality import SceneClass, image_content_qi
from core.product.l2a_rasters import BOA_ADD_OFFSET
from core.product.metadata import L1CMetadata, ProcessingBaseline, RasterGrid
from core.product.naming import ProductNames
from core.stac.assets import LayerAsset, layer_assets
from core.stac.footprint import Footprint, footprint, tile_outline, valid_data_outline

STAC_EXTENSIONS: Final[tuple[str, ...]] = (
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "https://stac-extensions.github.io/classification/v2.0.0/schema.json",
)
"""Declared extensions (stactools-sentinel2 0.8's list, plus processing; see the module notes)."""
LICENSE_HREF: Final[str] = (
    "https://sentinel.esa.int/documents/247904/690755/Sentinel_Data_Legal_Notice"
)
ESA_PROVIDER: Final[dict[str, Any]] = {
    "name": "ESA",
    "roles": ["producer", "licensor"],
    "url": "https://earth.esa.int/web/guest/home",
}
SEN2CLOUD_PROVIDER: Final[dict[str, Any]] = {
    "name": "sen2cloud",
    "roles": ["processor"],
    "description": "Sen2Cor 2.12-compatible L1C to L2A processing",
}
PERCENT_DECIMALS: Final[int] = 6
"""Sen2Cor writes its QI percentages with 6 decimals."""
THUMBNAIL_KEY: Final[str] = "thumbnail"
THUMBNAIL_MEDIA_TYPE: Final[str] = "image/png"
ORBIT_DIRECTION_PATH: Final[str] = "General_Info/Product_Info/Datatake/SENSING_ORBIT_DIRECTION"
DATATAKE_TYPE_PATH: Final[str] = "General_Info/Product_Info/Datatake/DATATAKE_TYPE"
DEGRADED_MSI_PATH: Final[str] = (
    "Quality_Indicators_Info/Image_Content_QI/DEGRADED_MSI_DATA_PERCENTAGE"
)


def scene_id(meta: L1CMetadata) -> str:
    """stactools' scene id ``S2A_T46RER_20210908T043714_L2A``: mission, tile and the datastrip
    sensing start, the same for every reprocessing of the scene (cloud anchors §2.1)."""
    names = ProductNames.l2a_from_l1c(
        meta, generation_time=meta.generation_time, baseline=meta.processing_baseline
    )
    return f"{names.mission_id}_T{names.tile_id}_{names.datastrip_sensing}_L2A"


def create_item(
    l1c: L1CProduct,
    layers: L2ALayers,
    asset_hrefs: Mapping[str, str],
    *,
    l1c_href: str,
    generation_time: datetime | None = None,
    processing_baseline: ProcessingBaseline | None = None,
    collection_id: str | None = None,
    collection_href: str | None = None,
) -> pystac.Item:
    """The item of the L2A made from ``l1c``: properties from its metadata and ``layers``
    (cloud cover and ``s2:*`` percentages from the SCL), assets at ``asset_hrefs`` (asset key ->
    final URI), a ``derived_from`` link to ``l1c_href``.

    ``generation_time`` (default now) and ``processing_baseline`` (default Sen2Cor's 99.99)
    name the L2A product (``s2:product_uri`` and ids), as the SAFE writer does.
    ``collection_id`` and ``collection_href`` go together: STAC 1.1 requires the ``collection``
    field exactly when a ``collection`` link exists.

    Raises
    ------
    OutputError
        An asset key is not one of the layers in ``layers`` (nor ``thumbnail``), no SCL or BOA
        pixel is valid, or only one of ``collection_id`` / ``collection_href`` is given.
    """
    if (collection_id is None) != (collection_href is None):
        raise OutputError("collection_id and collection_href must be given together")
    meta = l1c.metadata
    generated = (generation_time or datetime.now(UTC)).astimezone(UTC)
    names = ProductNames.l2a_from_l1c(
        meta, generation_time=generated, baseline=processing_baseline or DEFAULT_BASELINE
    )
    item_id = scene_id(meta)
    place = _footprint(layers, meta)
    item = pystac.Item(
        id=item_id,
        geometry=place.geometry,
        bbox=place.bbox,
        datetime=meta.product_start_time,
        properties={},
        stac_extensions=list(STAC_EXTENSIONS),
    )
    documents = _l1c_fields(l1c)
    item.properties.update(
        {
            "platform": meta.spacecraft_name.lower(),
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "providers": [ESA_PROVIDER, SEN2CLOUD_PROVIDER],
            **_view(meta),
            "proj:code": f"EPSG:{_finest_grid(meta).crs_epsg}",
            "proj:centroid": place.centroid,
            **_sat(meta, documents.get("orbit_direction")),
            **_mgrs(meta.tile_id),
            **_scene_class_properties(layers, documents.get("degraded_msi")),
            "s2:product_type": "S2MSI2A",
            "s2:product_uri": names.product,
            "s2:generation_time": _iso(generated),
            "created": _iso(generated),
            "s2:processing_baseline": str(names.baseline),
            "s2:datatake_id": names.datatake_id,
            "s2:datastrip_id": names.datastrip_long_id,
            "s2:tile_id": names.tile_long_id,
            "s2:reflectance_conversion_factor": meta.u_earth_sun,
            "processing:level": "L2A",
            "processing:lineage": f"{meta.product_uri} processed by sen2cloud",
            "processing:software": {"sen2cloud": core.__version__},
        }
    )
    if documents.get("datatake_type"):
        item.properties["s2:datatake_type"] = documents["datatake_type"]
    _add_assets(item, layers, meta, asset_hrefs)
    if collection_id is not None and collection_href is not None:
        item.collection_id = collection_id
        item.add_link(pystac.Link("collection", collection_href, media_type="application/json"))
    item.add_link(pystac.Link("license", LICENSE_HREF))
    item.add_link(pystac.Link("derived_from", l1c_href, title=f"Level-1C input {meta.product_uri}"))
    return item


def _iso(moment: datetime) -> str:
    """``2023-06-26T02:21:57.000000Z`` (stactools' form)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _finest_grid(meta: L1CMetadata) -> RasterGrid:
    if not meta.grids:
        raise OutputError("the L1C metadata has no tile grid", path=meta.product_uri)
    return meta.grids[min(meta.grids)]


def _footprint(layers: L2ALayers, meta: L1CMetadata) -> Footprint:
    """Valid SCL pixels (or finite BOA of B02/any band) at the coarsest resolution, else the
    whole tile."""
    if layers.scene_class:
        res = max(layers.scene_class)
        valid = layers.scene_class[res] != SceneClass.NO_DATA
    elif layers.boa_resolutions():
        res = layers.boa_resolutions()[-1]
        valid = np.all([_valid_boa(layers, res, b) for b in layers.boa_bands(res)], axis=0)
    else:
        grid = _finest_grid(meta)
        return footprint(tile_outline(grid), grid.crs_epsg)
    grid = meta.grids[res]
    return footprint(valid_data_outline(valid, grid), grid.crs_epsg)


def _valid_boa(layers: L2ALayers, resolution: int, band: str) -> np.ndarray:
    """Pixels with a BOA value (finite reflectance; encoded DN 0 is no-data)."""
    pixels = layers.pixels(EncodedKey("boa", resolution, band), BOA_ADD_OFFSET)
    if isinstance(pixels, EncodedLayer):
        return pixels.rasters.read(pixels.key) != 0
    return np.isfinite(layers.boa[resolution][band])


def _view(meta: L1CMetadata) -> dict[str, float]:
    """Sun angles of the tile; viewing angles as the mean over bands of the mean incidence
    angles (stactools' ``view:incidence_angle`` / ``view:azimuth``)."""
    view = {
        "view:sun_azimuth": meta.mean_sun_azimuth,
        "view:sun_elevation": 90.0 - meta.mean_sun_zenith,
    }
    angles = np.array(list(meta.mean_viewing_angles.values()), dtype=np.float64)
    if angles.size:
        view["view:incidence_angle"] = float(np.nanmean(angles[:, 0]))
        view["view:azimuth"] = float(np.nanmean(angles[:, 1]))
    return {k: float(v) for k, v in view.items() if np.isfinite(v)}


def _sat(meta: L1CMetadata, orbit_direction: str | None) -> dict[str, Any]:
    sat: dict[str, Any] = {
        "sat:relative_orbit": meta.relative_orbit,
        "sat:absolute_orbit": meta.absolute_orbit,
    }
    if orbit_direction:
        sat["sat:orbit_state"] = orbit_direction.lower()
    return sat


def _mgrs(tile_id: str) -> dict[str, Any]:
    """``46RER`` -> UTM zone 46, latitude band R, grid square ER, ``grid:code`` MGRS-46RER."""
    tile = tile_id.removeprefix("T")
    zone = int(tile[:-3])
    return {
        "mgrs:utm_zone": zone,
        "mgrs:latitude_band": tile[-3],
        "mgrs:grid_square": tile[-2:],
        "grid:code": f"MGRS-{zone:02d}{tile[-3:]}",
    }


def _scene_class_properties(layers: L2ALayers, degraded_msi: str | None) -> dict[str, float]:
    """``eo:cloud_cover``, ``eo:snow_cover`` and the ``s2:*_percentage`` fields from the SCL of
    the classification resolution (20 m, else the finest present), by Sen2Cor's rules."""
    properties: dict[str, float] = {}
    if degraded_msi is not None:
        properties["s2:degraded_msi_data_percentage"] = float(degraded_msi)
    if not layers.scene_class:
        return properties
    res = 20 if 20 in layers.scene_class else min(layers.scene_class)
    qi = image_content_qi(layers.scene_class[res])
    properties["eo:cloud_cover"] = round(qi.cloudy_percentage, PERCENT_DECIMALS)
    properties["eo:snow_cover"] = round(
        qi.class_percentages["SNOW_ICE_PERCENTAGE"], PERCENT_DECIMALS
    )
    properties["s2:nodata_pixel_percentage"] = round(qi.nodata_percentage, PERCENT_DECIMALS)
    for name, share in qi.class_percentages.items():
        properties[f"s2:{name.lower()}"] = round(share, PERCENT_DECIMALS)
    return properties


def _l1c_fields(l1c: L1CProduct) -> dict[str, str]:
    """Orbit direction and datatake type (MTD_MSIL1C.xml), degraded MSI share (MTD_TL.xml):
    what the reader does not keep; absent fields are left out."""
    found: dict[str, str] = {}
    for key, uri, path in (
        ("orbit_direction", l1c.files.product_metadata, ORBIT_DIRECTION_PATH),
        ("datatake_type", l1c.files.product_metadata, DATATAKE_TYPE_PATH),
        ("degraded_msi", l1c.files.tile_metadata, DEGRADED_MSI_PATH),
    ):
        text = find_text(parse_xml_bytes(storage.read_bytes(uri), path=uri), path)
        if text:
            found[key] = text
    return found


def _add_assets(
    item: pystac.Item, layers: L2ALayers, meta: L1CMetadata, asset_hrefs: Mapping[str, str]
) -> None:
    by_key: dict[str, LayerAsset] = {asset.key: asset for asset in layer_assets(layers)}
    for key, href in asset_hrefs.items():
        if key == THUMBNAIL_KEY:
            item.add_asset(
                key,
                pystac.Asset(
                    href,
                    title="Thumbnail image",
                    media_type=THUMBNAIL_MEDIA_TYPE,
                    roles=["thumbnail"],
                ),
            )
            continue
        if key not in by_key:
            raise OutputError(f"asset {key!r} is not a layer of the product", path=href)
        spec = by_key[key]
        fields = spec.stac_fields()
        grid = meta.grids[spec.resolution]
        fields |= {
            "proj:shape": [grid.height, grid.width],
            "proj:transform": list(grid.transform)[:6],
            "proj:bbox": list(array_bounds(grid.height, grid.width, grid.transform)),
        }
        item.add_asset(
            key,
            pystac.Asset(
                href,
                title=fields.pop("title"),
                media_type=fields.pop("type"),
                roles=fields.pop("roles"),
                extra_fields=fields,
            ),
        )
