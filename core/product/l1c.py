"""Open any Sentinel-2 L1C product: SAFE folder, zipped SAFE, local or ``s3://``, or the AWS layout.

The reader follows Sen2Cor's input rules (facts §1.1 step 1-2 and §4): the product must be a
compact-naming Level-1C (``S2?_MSIL1C_*``); the old multi-tile format (``S2?_OPER_PRD_MSIL1C``)
and Level-2A products are refused with a specific message. Files are found through
``manifest.safe`` (never by globbing folder names); metadata is read from MTD_MSIL1C.xml and
MTD_TL.xml into :class:`~core.product.metadata.L1CMetadata`; rasters are read by GDAL.
"""

from __future__ import annotations

import contextlib
import posixpath
from dataclasses import dataclass, field, replace
from typing import TypedDict

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.windows import Window

from core.angles import AngleFields, angle_fields
from core.bands import BAND_NAMES
from core.bands import band as band_info
from core.errors import ProductFormatError, UnsupportedProductError
from core.io import storage
from core.io.raster import (
    JP2_DRIVER,
    check_driver,
    check_grid,
    gdal_env,
    needs_s3,
    open_raster,
    read_resampled,
)
from core.product import aws_layout
from core.product.aux_data import AuxData, read_aux
from core.product.l1c_mtd import (
    L2A_MESSAGE,
    L2A_NAME,
    ProductInfo,
    build_metadata,
    parse_product_metadata,
    parse_tile_metadata,
    read_xml,
)
from core.product.masks import BandQualityMasks, read_band_quality, read_cloud_masks
from core.product.metadata import L1CMetadata, L1CSourceFiles
from core.product.safe import SafeManifest, parse_manifest
from core.radiometry import NODATA_DN, SATURATED_DN, ToaWindow, toa_reflectance

__all__ = ["L1CProduct", "ToaWindow", "open_l1c"]


def _band_files(base: str, image_files: tuple[str, ...], path: str) -> dict[str, str]:
    bands = {}
    for image in image_files:
        suffix = image.rsplit("_", 1)[-1].upper()
        if suffix in BAND_NAMES:
            bands[suffix] = storage.join(base, image + ".jp2")
    if not bands:
        raise ProductFormatError("Granule_List names no band IMAGE_FILE", path=path)
    return bands


def _grouped(base: str, hrefs: list[str], folder: str) -> dict[str, str]:
    return {
        posixpath.basename(h): storage.join(base, h)
        for h in hrefs
        if posixpath.dirname(h) == folder
    }


def _listed(base: str, folder: str) -> dict[str, str]:
    uri = storage.join(base, folder)
    if not storage.exists(uri):
        return {}
    return {name: storage.join(uri, name) for name in storage.listdir(uri)}


def _resolve_zip(uri: str) -> str:
    """The SAFE folder inside a zipped product, as a zip-member URI."""
    tops = {name.split("/", 1)[0] for name in storage.zip_names(uri)}
    safes = sorted(t for t in tops if t.upper().endswith(".SAFE"))
    if len(safes) != 1:
        raise ProductFormatError(
            f"expected one .SAFE folder at the archive root, found {len(safes)}", path=uri
        )
    return storage.zip_member_uri(uri, safes[0])


def _check_name(base: str) -> None:
    if L2A_NAME.search(storage.basename(base)):
        raise UnsupportedProductError(L2A_MESSAGE, path=base)


def _product_href(base: str, manifest: SafeManifest | None) -> str:
    """MTD_MSIL1C.xml from the manifest; without a manifest, the fixed name at the root."""
    if manifest is not None:
        if manifest.level == "Level-2A":
            raise UnsupportedProductError(L2A_MESSAGE, path=base)
        href = manifest.href("S2_Level-1C_Product_Metadata")
        if href is not None:
            return href
    names = storage.listdir(base)
    if "MTD_MSIL2A.xml" in names:
        raise UnsupportedProductError(L2A_MESSAGE, path=base)
    if "MTD_MSIL1C.xml" not in names:
        raise ProductFormatError(
            "no MTD_MSIL1C.xml product metadata (and no manifest.safe naming it): "
            "not a Sentinel-2 Level-1C SAFE product",
            path=base,
        )
    return "MTD_MSIL1C.xml"


def _tile_href(manifest: SafeManifest | None, product: ProductInfo, product_uri: str) -> str:
    """The tile metadata of the product's granule: the manifest's ``S2_Level-1C_Tile<n>_Metadata``
    in the granule folder, else ``MTD_TL.xml`` in the folder of the first image file."""
    granule_dir = "/".join(product.image_files[0].split("/")[:2]) if product.image_files else ""
    if not granule_dir.startswith("GRANULE/"):
        raise ProductFormatError(
            "cannot locate the granule folder from the image files", path=product_uri
        )
    if manifest is not None:
        for object_id, href in manifest.hrefs.items():
            tile_object = object_id.startswith("S2_Level-1C_Tile") and object_id.endswith(
                "_Metadata"
            )
            if tile_object and posixpath.dirname(href) == granule_dir:
                return href
    return f"{granule_dir}/MTD_TL.xml"


class _SideFiles(TypedDict, total=False):
    tile_qi: dict[str, str]
    aux: dict[str, str]
    datastrip_metadata: str | None
    datastrip_qi: dict[str, str]
    preview: str | None
    inspire: str | None


def _side_files(base: str, manifest: SafeManifest | None, granule_dir: str) -> _SideFiles:
    """QI, AUX, datastrip, INSPIRE and preview locations (manifest hrefs, else folder listings)."""
    if manifest is None:
        return {
            "tile_qi": _listed(base, f"{granule_dir}/QI_DATA"),
            "aux": _listed(base, f"{granule_dir}/AUX_DATA"),
        }
    hrefs = list(manifest.hrefs.values())
    datastrip = manifest.first("S2_Level-1C_Datastrip", "_Metadata")
    preview = manifest.first("Preview", "Tile1_Data")
    inspire = manifest.href("INSPIRE_Metadata")
    return {
        "tile_qi": _grouped(base, hrefs, f"{granule_dir}/QI_DATA"),
        "aux": _grouped(base, hrefs, f"{granule_dir}/AUX_DATA"),
        "datastrip_metadata": storage.join(base, datastrip) if datastrip else None,
        "datastrip_qi": (
            _grouped(base, hrefs, f"{posixpath.dirname(datastrip)}/QI_DATA") if datastrip else {}
        ),
        "preview": storage.join(base, preview) if preview else None,
        "inspire": storage.join(base, inspire) if inspire else None,
    }


def _open_safe(base: str, tile_id: str | None) -> tuple[L1CMetadata, L1CSourceFiles]:
    manifest_uri = storage.join(base, "manifest.safe")
    manifest = (
        parse_manifest(storage.read_bytes(manifest_uri), path=manifest_uri)
        if storage.exists(manifest_uri)
        else None
    )
    product_uri = storage.join(base, _product_href(base, manifest))
    product = parse_product_metadata(read_xml(product_uri), path=product_uri, tile_id=tile_id)
    tile_href = _tile_href(manifest, product, product_uri)
    tile_uri = storage.join(base, tile_href)
    tile_root = read_xml(tile_uri)
    tile = parse_tile_metadata(tile_root, path=tile_uri)
    if tile.granule_id != product.granule_id:
        raise ProductFormatError(
            f"tile metadata is for {tile.granule_id}, the product lists {product.granule_id}",
            path=tile_uri,
        )
    files = L1CSourceFiles(
        product_metadata=product_uri,
        tile_metadata=tile_uri,
        bands=_band_files(base, product.image_files, product_uri),
        manifest=manifest_uri if manifest else None,
        rep_info=_listed(base, "rep_info"),
        **_side_files(base, manifest, posixpath.dirname(tile_href)),
    )
    return build_metadata(product, tile, tile_root, tile_path=tile_uri), files


@dataclass(frozen=True, slots=True)
class L1CProduct:
    """An opened L1C tile: metadata, file locations and windowed readers."""

    uri: str
    metadata: L1CMetadata
    files: L1CSourceFiles
    band_driver: str = JP2_DRIVER
    """GDAL driver of the band files: JPEG 2000, or ``GTiff`` for decoded copies
    (:func:`core.product.band_cache.decode_bands`)."""
    _bands_checked: bool = field(default=False, init=False, repr=False, compare=False)

    def with_band_files(self, bands: dict[str, str], driver: str) -> L1CProduct:
        """This product reading ``bands`` (name -> URI, checked copies of its own band files in
        the ``driver`` format) instead of its JPEG 2000 files."""
        if not self._bands_checked:
            self.check_bands()
        copy = L1CProduct(
            self.uri,
            self.metadata,
            replace(self.files, bands={**self.files.bands, **bands}),
            band_driver=driver,
        )
        object.__setattr__(copy, "_bands_checked", True)
        return copy

    def _env(self, uri: str) -> contextlib.AbstractContextManager[object]:
        if needs_s3(uri) and not rasterio.env.hasenv():
            return gdal_env()
        return contextlib.nullcontext()

    def _band_uri(self, band: str) -> str:
        name = band_info(band).name
        if name not in self.files.bands:
            raise ProductFormatError(
                f"band {name} is not listed by the product metadata", path=self.uri
            )
        return self.files.bands[name]

    def check_bands(self) -> None:
        """Refuse the product unless every band file exists, is a JPEG 2000 and fits its grid.

        Each band's size must equal the MTD_TL.xml grid of its native resolution, and a band
        that carries georeferencing must have the tile's CRS and geotransform
        (:func:`~core.io.raster.check_grid`). Runs before the first pixel is read, so a bad band
        the processing would not read (e.g. B06 with ``--sc_only``) still refuses the product.

        Raises
        ------
        MissingBandError, ProductFormatError
            Naming the band file.
        """
        for name, uri in self.files.bands.items():
            grid = self.metadata.grids.get(band_info(name).resolution)
            with self._env(uri), open_raster(uri, band=name) as src:
                check_driver(src, JP2_DRIVER, uri)
                if grid is not None:
                    check_grid(src, grid, uri)
        object.__setattr__(self, "_bands_checked", True)

    def _read(
        self, band: str, resolution: int, window: Window | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self._bands_checked:
            self.check_bands()
        info = band_info(band)
        uri = self._band_uri(info.name)
        upsampling = Resampling.bilinear if info.name in ("B09", "B10") else Resampling.cubic
        with self._env(uri):
            return read_resampled(
                uri,
                native_resolution=info.resolution,
                resolution=resolution,
                window=window,
                upsampling=upsampling,
                expect_driver=self.band_driver,
                band=info.name,
            )

    def read_dn(self, band: str, resolution: int, window: Window | None = None) -> np.ndarray:
        """Digital numbers of ``band`` at ``resolution`` (uint16; resampled values rounded).

        Resampling as in :meth:`read_toa`; a target pixel touching native no-data is 0.
        """
        values, flags = self._read(band, resolution, window)
        dn = np.clip(np.rint(values), 0, 65535).astype(np.uint16)
        dn[flags[0] == NODATA_DN] = NODATA_DN
        return dn

    def read_toa(self, band: str, resolution: int, window: Window | None = None) -> ToaWindow:
        """TOA reflectance of ``band`` resampled to ``resolution`` on ``window`` (target pixels).

        ``rho = (DN + RADIO_ADD_OFFSET) / QUANTIFICATION_VALUE``. Down-sampling is the block
        mean, up-sampling bicubic (bilinear for B09/B10), as in Sen2Cor (facts §1.3). A target
        pixel is no-data if any native pixel under it is 0, saturated if any is 65535.
        """
        name = band_info(band).name
        values, flags = self._read(name, resolution, window)
        return toa_reflectance(
            values,
            self.metadata.quantification_value,
            self.metadata.radio_add_offset[name],
            nodata=flags[0] == NODATA_DN,
            saturated=flags[1] == SATURATED_DN,
        )

    def _window(self, resolution: int, window: Window | None) -> Window:
        grid = self.metadata.grids.get(resolution)
        if grid is None:
            raise ProductFormatError(
                f"no {resolution} m grid in the tile metadata", path=self.files.tile_metadata
            )
        return window or Window(0, 0, grid.width, grid.height)

    def angles(
        self, resolution: int, window: Window | None = None, bands: tuple[str, ...] | None = None
    ) -> AngleFields:
        """Per-pixel sun and viewing angles (degrees) on ``window`` at ``resolution``."""
        sun = self.metadata.sun_angles
        if sun is None:
            raise ProductFormatError(
                "the tile has no sun angle grid", path=self.files.tile_metadata
            )
        return angle_fields(
            sun, self.metadata.viewing_angles, resolution, self._window(resolution, window), bands
        )

    def quality_masks(
        self, band: str, resolution: int, window: Window | None = None
    ) -> BandQualityMasks:
        """Detector footprint and L1C quality flags of ``band`` on ``window`` at ``resolution``."""
        target = self._window(resolution, window)
        with self._env(self.files.tile_metadata):
            return read_band_quality(
                self.files.tile_qi, band, self.metadata.grids[resolution], target
            )

    def cloud_masks(self, resolution: int, window: Window | None = None) -> dict[str, np.ndarray]:
        """L1C opaque-cloud / cirrus / snow masks on ``window`` at ``resolution``."""
        target = self._window(resolution, window)
        with self._env(self.files.tile_metadata):
            return read_cloud_masks(self.files.tile_qi, self.metadata.grids[resolution], target)

    def aux(self) -> AuxData | None:
        """ECMWF (ozone, water vapour, pressure) and CAMS (AOD) tile means; ``None`` if absent."""
        return read_aux(self.files.aux)


def open_l1c(uri: str, *, tile: str | None = None) -> L1CProduct:
    """Open the L1C product at ``uri``.

    Parameters
    ----------
    uri : str
        A ``.SAFE`` folder, a zipped SAFE (``.zip``) or an AWS open-data tile folder
        (``tiles/<zone>/<band>/<square>/<y>/<m>/<d>/<n>/``), as a local path or ``s3://`` URI.
    tile : str, optional
        MGRS tile (``"53HPA"``) to open from a pre-2017 multi-tile product, which Sen2Cor also
        processes tile by tile; checked against the tile of a single-tile product.

    Raises
    ------
    UnsupportedProductError
        Level-2A input, unknown level, or a multi-tile product opened without ``tile``.
    ProductFormatError
        Missing or malformed metadata.
    UnsafeInputError
        Hostile archive or XML.
    """
    base = uri.rstrip("/")
    if base.lower().endswith(".zip"):
        if not storage.exists(base):
            raise ProductFormatError("file not found", path=base)
        base = _resolve_zip(base)
    elif not storage.exists(base):
        raise ProductFormatError("product not found", path=base)
    _check_name(base)
    if storage.exists(storage.join(base, aws_layout.TILE_INFO)):
        metadata, files = aws_layout.open_aws_tile(base)
    else:
        metadata, files = _open_safe(base, tile)
    return L1CProduct(uri=uri, metadata=metadata, files=files)
