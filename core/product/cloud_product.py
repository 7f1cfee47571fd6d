"""The cloud-native L2A product of one scene: COG assets, visual COG, thumbnail, STAC item.

Every layer in :class:`L2ALayers` (in memory, or encoded window by window) becomes one COG
(encodings and names in :mod:`core.stac.assets`), the TCI of each resolution (encoded, or from
BOA B04/B03/B02) a visual COG, the finest TCI a PNG thumbnail at the PVI's 320 m pixels.
The STAC item is validated offline and written last: a reader (or the catalog indexer) that
sees the item sees every asset it names (issue #6: a scene is done once its item exists). An
``s3://`` destination is built in a local temporary folder (GDAL writes COGs to seekable
files) and uploaded in the same order, item last.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import numpy as np
import pystac

from core.errors import OutputError
from core.io import storage
from core.io.block_writer import run_each
from core.product.encoded_layers import EncodedKey, EncodedLayer
from core.product.l1c import L1CProduct
from core.product.l2a import L2ALayers
from core.product.l2a_rasters import BOA_ADD_OFFSET, write_layer
from core.product.metadata import ProcessingBaseline
from core.product.quicklook import write_png
from core.stac.assets import LayerAsset, layer_assets
from core.stac.item import THUMBNAIL_KEY, create_item, scene_id
from core.stac.validate import validate_item

THUMBNAIL_FILE: Final[str] = "thumbnail.png"
CONTENT_TYPES: Final[dict[str, str]] = {
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".png": "image/png",
    ".json": "application/geo+json",
}
"""``Content-Type`` of uploaded objects, by file extension."""


@dataclass(frozen=True)
class CloudProduct:
    """What :func:`write_cloud_product` wrote."""

    item: pystac.Item
    item_uri: str
    """Where ``item.json`` was written (the last file written)."""
    files: tuple[str, ...]
    """Every URI written, item last."""


def write_cloud_product(
    l1c: L1CProduct,
    layers: L2ALayers,
    output_uri: str,
    *,
    publish_uri: str | None = None,
    l1c_href: str,
    generation_time: datetime | None = None,
    processing_baseline: ProcessingBaseline | None = None,
    collection_id: str | None = None,
    collection_href: str | None = None,
) -> CloudProduct:
    """Write the COGs, the visual COG, the thumbnail and (last) the item under ``output_uri``
    (a local folder or ``s3://`` prefix). Asset hrefs point under ``publish_uri`` (default
    ``output_uri``): the caller may stage the files and copy them there afterwards.

    Layers absent from ``layers`` are not written (a scene-classification-only run has no BOA,
    hence no visual asset and no thumbnail); the item is valid either way. ``generation_time``,
    ``processing_baseline`` and the collection are passed to :func:`create_item`.

    Raises
    ------
    OutputError
        A layer does not fit its grid, the item fails its schemas, or writing fails.
    """
    meta = l1c.metadata
    publish = (publish_uri or output_uri).rstrip("/")
    with _work_folder(output_uri) as work:
        names: list[str] = []
        hrefs: dict[str, str] = {}
        assets = layer_assets(layers)
        with ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="cog-write") as pool:
            run_each(lambda a: _write_layer(work / a.file_name, a, layers, l1c), assets, pool)
        for asset in assets:
            names.append(asset.file_name)
            hrefs[asset.key] = _join(publish, asset.file_name)
        visual = layers.tci_resolutions()
        if visual:
            # no-data left out of the averages: an encoded TCI is reduced straight from disk
            thumbnail = layers.preview_tci(visual[0], meta.grids[visual[0]], nodata=0)
            assert thumbnail is not None
            write_png(str(work / THUMBNAIL_FILE), thumbnail)
            names.append(THUMBNAIL_FILE)
            hrefs[THUMBNAIL_KEY] = _join(publish, THUMBNAIL_FILE)
        item = create_item(
            l1c,
            layers,
            hrefs,
            l1c_href=l1c_href,
            generation_time=generation_time,
            processing_baseline=processing_baseline,
            collection_id=collection_id,
            collection_href=collection_href,
        )
        document = item.to_dict(include_self_link=False, transform_hrefs=False)
        validate_item(document)
        item_name = f"{scene_id(meta)}.json"
        (work / item_name).write_text(json.dumps(document, indent=2), encoding="utf-8")
        names.append(item_name)
        files = _publish(work, names, output_uri)
    return CloudProduct(item=item, item_uri=files[-1], files=files)


def _pixels(asset: LayerAsset, layers: L2ALayers) -> np.ndarray | EncodedLayer:
    """The layer's pixels in the asset encoding (:mod:`core.stac.assets`), or its encoded
    raster."""
    res = asset.resolution
    if asset.layer in ("boa", "visual", "aot", "wvp"):
        key = EncodedKey(asset.layer, res, asset.band)
        pixels = layers.pixels(key, BOA_ADD_OFFSET)
        assert pixels is not None  # layer_assets lists held layers only
        return pixels
    classes = {
        "scl": layers.scene_class,
        "cloud": layers.cloud_probability,
        "snow": layers.snow_probability,
    }[asset.layer]
    return np.asarray(classes[res], dtype=np.uint8)


def _write_layer(path: Path, asset: LayerAsset, layers: L2ALayers, l1c: L1CProduct) -> None:
    grid = l1c.metadata.grids.get(asset.resolution)
    if grid is None:
        raise OutputError(
            f"the L1C metadata has no {asset.resolution} m grid for {asset.key}",
            path=l1c.metadata.product_uri,
        )
    scale, offset = asset.scale_offset
    write_layer(
        str(path),
        _pixels(asset, layers),
        grid,
        image_format="TIF",
        kind=asset.cog_kind,
        scale=scale,
        offset=offset,
    )


def _join(base: str, name: str) -> str:
    """``base/name``: an ``s3://`` URI, or an absolute local path (hrefs must not depend on the
    working directory)."""
    return f"{base}/{name}" if storage.is_s3(base) else str(Path(base).absolute() / name)


@contextmanager
def _work_folder(output_uri: str) -> Iterator[Path]:
    """The local folder files are written to: ``output_uri`` itself, or a temporary folder
    uploaded by :func:`_publish` for ``s3://``."""
    if not storage.is_s3(output_uri):
        folder = Path(output_uri)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"cannot create the output folder ({err})", path=output_uri) from err
        yield folder
        return
    work = Path(tempfile.mkdtemp(prefix="sen2cloud-cog-"))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _publish(work: Path, names: list[str], output_uri: str) -> tuple[str, ...]:
    """Upload ``names`` from ``work`` in order (item last) to an ``s3://`` ``output_uri``;
    locally they are already in place. Return the final URIs."""
    uris = tuple(_join(output_uri.rstrip("/"), name) for name in names)
    if not storage.is_s3(output_uri):
        return uris
    for name, uri in zip(names, uris, strict=True):
        storage.put_file(work / name, uri, content_type=CONTENT_TYPES[Path(name).suffix])
    return uris
