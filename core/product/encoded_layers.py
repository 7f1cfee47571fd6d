"""BOA, AOT, WVP and TCI rasters of a tile, encoded as the product stores them and assembled
from full-width row windows (issue #7), then encoded once as COG, JP2 or ENVI.

The windowed pipeline corrects a tile strip by strip (:func:`core.io.block_reader.strip_windows`)
and hands each strip's results to :class:`EncodedLayers`, which encodes them (facts §5.3:
BOA uint16 ``ρ·10000 − BOA_ADD_OFFSET``, AOT/WVP uint16 ×1000, TCI 3×uint8 of
:func:`core.product.quicklook.true_colour`) and stores the windows in one scratch
:class:`core.io.block_writer.BlockWriter` per layer. The SAFE and cloud writers then encode their
files from the scratches (:class:`EncodedRasters`) without loading a band whole. The statistics
L2A_QUALITY reports of those layers (negative-BOA share, granule mean AOT/WV) are accumulated
window by window.

A fan-out worker correcting only a band of rows of the tile (its grids from :func:`row_band`)
stores its layers with :meth:`EncodedLayers.save_parts`: one compressed GeoTIFF per layer and
a JSON manifest per part. :class:`MosaicLayers` joins the parts of every layer in a GDAL VRT
(the parts read in place, locally or through ``/vsis3/``) behind the same
:class:`EncodedRasters` interface, so the product writers encode the final COG/JP2 files from
the parts exactly as from a one-piece tile.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import xml.etree.ElementTree as ET  # building VRT documents only
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Protocol

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from numba import njit
from rasterio.crs import CRS
from rasterio.enums import Resampling

from core.bands import BANDS
from core.errors import OutputError, ProcessingError
from core.io import storage
from core.io.block_writer import (
    SCRATCH_BLOCK,
    BlockWriter,
    EncodePool,
    cog_from,
    envi_from,
    jp2_from,
)
from core.io.cog import COG_COMPRESSION, COG_LEVEL, OVERVIEW_RESAMPLING, LayerKind
from core.io.raster import gdal_env
from core.product.l2a_rasters import (
    AOT_QUANTIFICATION_VALUE,
    BOA_ADD_OFFSET,
    BOA_QUANTIFICATION_VALUE,
    WVP_QUANTIFICATION_VALUE,
    encode_boa,
    encode_scaled,
)
from core.product.metadata import RasterGrid
from core.product.quicklook import true_colour

EncodedLayerName = Literal["boa", "aot", "wvp", "visual"]

SCALED_QUANTIFICATION: Final[dict[str, float]] = {
    "aot": AOT_QUANTIFICATION_VALUE,
    "wvp": WVP_QUANTIFICATION_VALUE,
}
"""Quantification of the scaled layers (AOT550 unitless, WVP in cm; facts §5.3)."""


PART_OPTIONS: Final[dict[str, object]] = {
    "COMPRESS": COG_COMPRESSION,
    "ZSTD_LEVEL": COG_LEVEL,
    "PREDICTOR": 2,
    "BIGTIFF": "IF_SAFER",
}
"""Creation options of a row-band part (tiled as the scratch): fast ZSTD with a horizontal
predictor, as the COGs."""
_PART_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def row_band(grid: RasterGrid, row_off: int, rows: int) -> RasterGrid:
    """The grid of rows ``row_off .. row_off + rows`` of ``grid`` (a fan-out worker's band).

    Raises
    ------
    ValueError
        The rows are not inside ``grid``.
    """
    if row_off < 0 or rows < 1 or row_off + rows > grid.height:
        raise ValueError(f"rows {row_off}..{row_off + rows} are outside 0..{grid.height}")
    return replace(grid, height=rows, transform=grid.transform @ Affine.translation(0, row_off))


def part_file_name(key: EncodedKey, part: str) -> str:
    """File of ``key`` in part ``part``: ``boa_20_B02.part-003.tif``."""
    return f"{key.stem}.part-{part}.tif"


def part_manifest_name(part: str) -> str:
    """Manifest of part ``part``: ``manifest.part-003.json``."""
    return f"manifest.part-{part}.json"


def check_part_name(part: str) -> str:
    """``part`` if it is 1-64 letters, digits, ``_`` or ``-`` (it becomes a file name)."""
    if not _PART_NAME.match(part):
        raise ValueError(f"part name {part!r} must be 1-64 letters, digits, '_' or '-'")
    return part


@dataclass(frozen=True, order=True)
class EncodedKey:
    """One encoded raster: a layer at one resolution (a BOA ``band``)."""

    layer: EncodedLayerName
    resolution: int
    band: str | None = None
    """BOA band name (``B8A``); ``None`` for aot/wvp/visual."""

    @property
    def stem(self) -> str:
        """File-name stem: ``boa_20_B02``, ``aot_20``, ``visual_60``."""
        base = f"{self.layer}_{self.resolution}"
        return f"{base}_{self.band}" if self.band else base


@dataclass(frozen=True, slots=True)
class LayerEncoding:
    """How a layer is stored: pixel type, bands, COG overview class and DN -> value scaling."""

    dtype: type[np.integer]
    count: int
    kind: LayerKind
    scale: float | None
    offset: float | None


def layer_encoding(layer: EncodedLayerName, boa_add_offset: int) -> LayerEncoding:
    """The encoding of ``layer`` (value = DN × scale + offset, 0 = no-data)."""
    if layer == "boa":
        q = BOA_QUANTIFICATION_VALUE
        return LayerEncoding(np.uint16, 1, "reflectance", 1.0 / q, boa_add_offset / q)
    if layer == "visual":
        return LayerEncoding(np.uint8, 3, "reflectance", None, None)
    return LayerEncoding(np.uint16, 1, "continuous", 1.0 / SCALED_QUANTIFICATION[layer], 0.0)


class EncodedRasters(Protocol):
    """What the product writers read of encoded layers (:class:`EncodedLayers`, a mosaic of
    row-band parts)."""

    @property
    def boa_add_offset(self) -> int: ...

    def keys(self) -> tuple[EncodedKey, ...]: ...

    def resolutions(self) -> tuple[int, ...]: ...

    def boa_bands(self, resolution: int) -> tuple[str, ...]: ...

    def has(self, key: EncodedKey) -> bool: ...

    def negative_boa_percentage(self, resolution: int) -> dict[str, float]: ...

    def granule_mean(self, layer: Literal["aot", "wvp"], resolution: int) -> float | None: ...

    def to_cog(self, key: EncodedKey, path: str | Path, *, threads: int = 1) -> None: ...

    def to_jp2(self, key: EncodedKey, path: str | Path, *, threads: int = 1) -> None: ...

    def to_envi(self, key: EncodedKey, path: str | Path) -> None: ...

    def read(self, key: EncodedKey, out_shape: tuple[int, int] | None = None) -> np.ndarray: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EncodedLayer:
    """One raster of an :class:`EncodedRasters`, handed to a product writer instead of pixels."""

    rasters: EncodedRasters
    key: EncodedKey


@njit(cache=True, nogil=True)
def _count_kernel(values: np.ndarray, valid: np.ndarray, masked: bool, counts: np.ndarray) -> float:
    """Add to ``counts`` [negative, valid] the finite pixels (where ``valid``, if ``masked``)
    and the negative ones among them; return the sum of their values."""
    flat_values = values.ravel()
    flat_valid = valid.ravel()
    total = 0.0
    for i in range(flat_values.size):
        value = flat_values[i]
        if (not masked or flat_valid[i]) and np.isfinite(value):
            counts[1] += 1
            total += value
            if value < 0.0:
                counts[0] += 1
    return total


@dataclass(slots=True)
class Tally:
    """Running statistics of one layer: negative and valid pixel counts, sum of values."""

    negative: int = 0
    valid: int = 0
    total: float = 0.0

    @classmethod
    def of(cls, values: np.ndarray, valid: np.ndarray | None) -> Tally:
        mask = np.zeros(1, dtype=np.bool_) if valid is None else valid.astype(np.bool_)
        counts = np.zeros(2, dtype=np.int64)
        total = _count_kernel(
            np.ascontiguousarray(values, dtype=np.float32),
            np.ascontiguousarray(mask),
            valid is not None,
            counts,
        )
        return cls(int(counts[0]), int(counts[1]), total)

    def to_list(self) -> list[float]:
        """``[negative, valid, total]`` (a part manifest's entry)."""
        return [self.negative, self.valid, self.total]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> Tally:
        negative, valid, total = values
        return cls(int(negative), int(valid), float(total))

    @property
    def mean(self) -> float:
        """Mean of the valid values (NaN when none)."""
        return self.total / self.valid if self.valid else float("nan")

    def add(self, other: Tally) -> None:
        self.negative += other.negative
        self.valid += other.valid
        self.total += other.total


def negative_shares(tallies: Mapping[str | None, Tally]) -> dict[str, float]:
    """Band -> share (%) of valid pixels with a negative value, bands in the band table's
    order (as L2A_QUALITY lists them)."""
    return {
        b.name: 100.0 * tallies[b.name].negative / max(tallies[b.name].valid, 1)
        for b in BANDS
        if b.name in tallies
    }


class EncodedLayers:
    """BOA/AOT/WVP/TCI rasters of one tile (or of a band of rows of it), encoded as the
    product stores them (BOA uint16 ρ·10000 − BOA_ADD_OFFSET, AOT/WVP uint16 ×1000, TCI
    3-band uint8 via :func:`core.product.quicklook.true_colour`), assembled from full-width
    row windows.

    Parameters
    ----------
    grids
        The grid of each resolution (of the tile, or of the row band a worker corrects).
    scratch_dir
        Local folder (or ``/vsimem/...``) of the scratch GeoTIFFs.
    pool
        Threads storing the windows (shared by every layer).
    boa_add_offset
        ``BOA_ADD_OFFSET`` of the product (−1000 from baseline 04.00, else 0).

    Windows start on a 64-row boundary (the scratch block) and span a multiple of 64 rows, or
    end at the bottom of the grid. A layer's scratch is created on its first window; writes
    may come from several threads. Use as a context manager (or call :meth:`close`) so the
    scratch files are deleted, also after a failure.
    """

    def __init__(
        self,
        grids: Mapping[int, RasterGrid],
        scratch_dir: str | Path,
        *,
        pool: EncodePool,
        boa_add_offset: int = BOA_ADD_OFFSET,
    ) -> None:
        self.grids = dict(grids)
        self.scratch_dir = str(scratch_dir)
        self._boa_add_offset = boa_add_offset
        self._pool = pool
        self._writers: dict[EncodedKey, BlockWriter] = {}
        self._tallies: dict[EncodedKey, Tally] = {}
        self._lock = threading.Lock()

    @property
    def boa_add_offset(self) -> int:
        """``BOA_ADD_OFFSET`` of the BOA encoding."""
        return self._boa_add_offset

    # -- windows in ------------------------------------------------------------------------

    def write_boa(
        self,
        resolution: int,
        band: str,
        reflectance: np.ndarray,
        row_off: int,
        *,
        valid: np.ndarray | None = None,
    ) -> None:
        """Queue the BOA reflectance (float32, NaN = no-data) of full-width rows ``row_off..``.

        ``valid`` marks the pixels the scene classification counts (SCL ≠ NO_DATA); the
        negative-BOA share of L2A_QUALITY is taken over them (default: every finite pixel).
        """
        key = EncodedKey("boa", resolution, band)
        dn = encode_boa(reflectance, BOA_QUANTIFICATION_VALUE, self._boa_add_offset)
        self._tally(key, reflectance, valid)
        self._writer(key).write(dn, row_off, 0)

    def write_scaled(
        self,
        layer: Literal["aot", "wvp"],
        resolution: int,
        values: np.ndarray,
        row_off: int,
        *,
        valid: np.ndarray | None = None,
    ) -> None:
        """Queue AOT550 or WVP (cm) values (NaN = no-data) of full-width rows ``row_off..``;
        their mean over ``valid`` finite pixels is :meth:`granule_mean`."""
        key = EncodedKey(layer, resolution)
        dn = encode_scaled(values, SCALED_QUANTIFICATION[layer])
        self._tally(key, values, valid)
        self._writer(key).write(dn, row_off, 0)

    def write_visual(
        self,
        resolution: int,
        red: np.ndarray,
        green: np.ndarray,
        blue: np.ndarray,
        row_off: int,
    ) -> None:
        """Queue the TCI of BOA B04/B03/B02 reflectance of full-width rows ``row_off..``."""
        self._writer(EncodedKey("visual", resolution)).write(
            true_colour(red, green, blue), row_off, 0
        )

    # -- what is held ----------------------------------------------------------------------

    def keys(self) -> tuple[EncodedKey, ...]:
        """Every layer written, sorted."""
        with self._lock:
            return tuple(sorted(self._writers))

    def resolutions(self) -> tuple[int, ...]:
        """Resolutions with a layer written, finest first."""
        return tuple(sorted({k.resolution for k in self.keys()}))

    def boa_bands(self, resolution: int) -> tuple[str, ...]:
        """BOA bands written at ``resolution``, sorted by name."""
        return tuple(
            str(k.band) for k in self.keys() if k.layer == "boa" and k.resolution == resolution
        )

    def has(self, key: EncodedKey) -> bool:
        """True when ``key`` has been written to."""
        with self._lock:
            return key in self._writers

    def negative_boa_percentage(self, resolution: int) -> dict[str, float]:
        """Band -> share (%) of valid pixels with a negative BOA reflectance, as
        :func:`core.product.l2a_quality.image_content_qi` defines it; bands in the band table's
        order (as L2A_QUALITY lists them)."""
        return negative_shares(self._tallies_of("boa", resolution))

    def granule_mean(self, layer: Literal["aot", "wvp"], resolution: int) -> float | None:
        """Mean AOT550 or WVP (cm) over valid pixels (``GRANULE_MEAN_AOT``/``_WV``); NaN when
        no pixel is valid, ``None`` when the layer was not written."""
        tally = self._tallies_of(layer, resolution).get(None)
        return None if tally is None else tally.mean

    # -- rasters out -----------------------------------------------------------------------

    def to_cog(self, key: EncodedKey, path: str | Path, *, threads: int = 1) -> None:
        """Encode ``key`` as a COG (overviews, scale/offset and no-data of its layer)."""
        resampling = OVERVIEW_RESAMPLING[layer_encoding(key.layer, self._boa_add_offset).kind]
        self._held(key).to_cog(path, overview_resampling=resampling, threads=threads)

    def to_jp2(self, key: EncodedKey, path: str | Path, *, threads: int = 1) -> None:
        """Encode ``key`` as the product's lossless JP2."""
        self._held(key).to_jp2(path, threads=threads)

    def to_envi(self, key: EncodedKey, path: str | Path) -> None:
        """Write ``key`` as ENVI raw + ``.hdr`` (``--raw``)."""
        self._held(key).to_envi(path)

    def read(self, key: EncodedKey, out_shape: tuple[int, int] | None = None) -> np.ndarray:
        """The encoded pixels of ``key`` (``(rows, cols)``, ``(3, rows, cols)`` for the TCI),
        or reduced to ``out_shape`` by area average (no-data left out) for previews."""
        pixels = self._held(key).read(out_shape)
        return pixels[0] if pixels.shape[0] == 1 else pixels

    def save_parts(self, folder_uri: str, *, part: str) -> tuple[str, ...]:
        """Store every layer as part ``part`` of a fan-out tile under ``folder_uri`` (a local
        folder or ``s3://`` prefix): one compressed tiled GeoTIFF per layer
        (:func:`part_file_name`, :data:`PART_OPTIONS`) and, last, a JSON manifest of the
        layers, this object's grids (the row band) and the statistics tallies. Returns the
        URIs written, manifest last.

        Raises
        ------
        OutputError
            A layer misses windows, or writing / uploading fails.
        """
        check_part_name(part)
        s3 = storage.is_s3(folder_uri)
        with tempfile.TemporaryDirectory(prefix="sen2cloud-part-") as temporary:
            local = Path(temporary if s3 else folder_uri)
            local.mkdir(parents=True, exist_ok=True)
            names = []
            for key in self.keys():
                names.append(part_file_name(key, part))
                self._held(key).to_gtiff(local / names[-1], **PART_OPTIONS)
            names.append(part_manifest_name(part))
            (local / names[-1]).write_text(json.dumps(self._manifest(part), indent=1))
            uris = tuple(storage.join(folder_uri, name) for name in names)
            if s3:
                for name, uri in zip(names, uris, strict=True):
                    storage.put_file(local / name, uri)
        return uris

    def close(self) -> None:
        """Wait for queued windows and delete every scratch (idempotent)."""
        with self._lock:
            writers = list(self._writers.values())
        errors: list[BaseException] = []
        for writer in writers:
            try:
                writer.close()
            except Exception as err:  # close every scratch, then report the first failure
                errors.append(err)
        if errors:
            raise errors[0]

    def __enter__(self) -> EncodedLayers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _writer(self, key: EncodedKey) -> BlockWriter:
        with self._lock:
            writer = self._writers.get(key)
            if writer is None:
                grid = self.grids.get(key.resolution)
                if grid is None:
                    raise OutputError(
                        f"no {key.resolution} m grid for the {key.stem} layer",
                        path=self.scratch_dir,
                    )
                encoding = layer_encoding(key.layer, self._boa_add_offset)
                writer = BlockWriter(
                    grid,
                    encoding.dtype,
                    scratch_dir=self.scratch_dir,
                    pool=self._pool,
                    count=encoding.count,
                    nodata=0,
                    scale=encoding.scale,
                    offset=encoding.offset,
                    name=key.stem,
                )
                self._writers[key] = writer
            return writer

    def _held(self, key: EncodedKey) -> BlockWriter:
        with self._lock:
            writer = self._writers.get(key)
        if writer is None:
            raise OutputError(f"no {key.stem} layer was written", path=self.scratch_dir)
        return writer

    def _manifest(self, part: str) -> dict[str, object]:
        with self._lock:
            tallies = dict(self._tallies)
        return {
            "part": part,
            "boa_add_offset": self._boa_add_offset,
            "grids": {
                str(res): {"height": g.height, "width": g.width, "transform": list(g.transform)[:6]}
                for res, g in sorted(self.grids.items())
            },
            "layers": [
                {
                    "layer": key.layer,
                    "resolution": key.resolution,
                    "band": key.band,
                    "file": part_file_name(key, part),
                    "tally": tallies[key].to_list() if key in tallies else None,
                }
                for key in self.keys()
            ],
        }

    def _tally(self, key: EncodedKey, values: np.ndarray, valid: np.ndarray | None) -> None:
        if valid is not None and valid.shape != values.shape:
            raise OutputError(
                f"valid mask {valid.shape} does not match the {key.stem} window {values.shape}",
                path=self.scratch_dir,
            )
        tally = Tally.of(values, valid)
        with self._lock:
            self._tallies.setdefault(key, Tally()).add(tally)

    def _tallies_of(self, layer: EncodedLayerName, resolution: int) -> dict[str | None, Tally]:
        with self._lock:
            return {
                k.band: t
                for k, t in sorted(self._tallies.items())
                if k.layer == layer and k.resolution == resolution
            }


# -- fan-out: a tile mosaicked from the row-band parts of several workers -----------------

_GDAL_TYPE: Final[dict[str, str]] = {"uint8": "Byte", "uint16": "UInt16"}
"""GDAL's names of the encoded pixel types (VRT ``dataType``)."""


@dataclass(frozen=True, slots=True)
class _Part:
    """One part of one layer: its file and the rows of the tile it covers."""

    uri: str
    row_off: int
    rows: int


class MosaicLayers:
    """The encoded layers of a tile, read from the row-band parts written by several workers.

    Build it with :meth:`from_parts`; it reads the parts in place and holds no scratch.
    """

    def __init__(
        self,
        grids: Mapping[int, RasterGrid],
        parts: Mapping[EncodedKey, Sequence[_Part]],
        tallies: Mapping[EncodedKey, Tally],
        *,
        boa_add_offset: int,
        folder_uri: str,
    ) -> None:
        self.grids = dict(grids)
        self.folder_uri = folder_uri
        self._parts = dict(parts)
        self._tallies = dict(tallies)
        self._boa_add_offset = boa_add_offset

    @classmethod
    def from_parts(
        cls, grids: Mapping[int, RasterGrid], folder_uri: str, parts: Sequence[str]
    ) -> MosaicLayers:
        """The mosaic of the parts ``parts`` stored under ``folder_uri``.

        Raises
        ------
        ProcessingError
            A manifest or part file is missing or unreadable, the parts disagree on their
            layers or ``BOA_ADD_OFFSET``, or their row bands do not tile the grids exactly.
        """
        manifests = [_read_manifest(folder_uri, check_part_name(part)) for part in parts]
        if not manifests:
            raise ProcessingError("no parts to mosaic", path=folder_uri)
        offsets = {m["boa_add_offset"] for m in manifests}
        if len(offsets) != 1:
            raise ProcessingError(f"parts disagree on BOA_ADD_OFFSET {offsets}", path=folder_uri)
        by_key: dict[EncodedKey, list[_Part]] = {}
        tallies: dict[EncodedKey, Tally] = {}
        for part, manifest in zip(parts, manifests, strict=True):
            for entry in manifest["layers"]:
                key = EncodedKey(entry["layer"], entry["resolution"], entry["band"])
                uri = storage.join(folder_uri, entry["file"])
                if not storage.exists(uri):
                    raise ProcessingError(f"part {part} of {key.stem} is missing", path=uri)
                row_off, rows = _rows(grids, key.resolution, manifest, uri)
                by_key.setdefault(key, []).append(_Part(uri, row_off, rows))
                if entry["tally"] is not None:
                    tallies.setdefault(key, Tally()).add(Tally.from_list(entry["tally"]))
        for key, held in by_key.items():
            _check_coverage(key, held, grids[key.resolution], folder_uri)
        return cls(grids, by_key, tallies, boa_add_offset=offsets.pop(), folder_uri=folder_uri)

    @property
    def boa_add_offset(self) -> int:
        """``BOA_ADD_OFFSET`` of the BOA encoding."""
        return self._boa_add_offset

    def keys(self) -> tuple[EncodedKey, ...]:
        """Every layer of the parts, sorted."""
        return tuple(sorted(self._parts))

    def resolutions(self) -> tuple[int, ...]:
        """Resolutions with a layer, finest first."""
        return tuple(sorted({k.resolution for k in self._parts}))

    def boa_bands(self, resolution: int) -> tuple[str, ...]:
        """BOA bands at ``resolution``, sorted by name."""
        return tuple(
            str(k.band) for k in self.keys() if k.layer == "boa" and k.resolution == resolution
        )

    def has(self, key: EncodedKey) -> bool:
        """True when the parts hold ``key``."""
        return key in self._parts

    def negative_boa_percentage(self, resolution: int) -> dict[str, float]:
        """Band -> share (%) of valid pixels with a negative BOA, summed over the parts."""
        return negative_shares(
            {
                k.band: t
                for k, t in self._tallies.items()
                if k.layer == "boa" and k.resolution == resolution
            }
        )

    def granule_mean(self, layer: Literal["aot", "wvp"], resolution: int) -> float | None:
        """Mean AOT550 or WVP over the valid pixels of every part (``None``: no such layer)."""
        tally = self._tallies.get(EncodedKey(layer, resolution))
        return None if tally is None else tally.mean

    def to_cog(self, key: EncodedKey, path: str | Path, *, threads: int = 1) -> None:
        """Encode the mosaic of ``key`` as a COG (as :meth:`EncodedLayers.to_cog`)."""
        resampling = OVERVIEW_RESAMPLING[layer_encoding(key.layer, self._boa_add_offset).kind]
        with self._env():
            cog_from(self._vrt(key), path, overview_resampling=resampling, threads=threads)

    def to_jp2(self, key: EncodedKey, path: str | Path, *, threads: int = 1) -> None:
        """Encode the mosaic of ``key`` as the product's lossless JP2."""
        with self._env():
            jp2_from(self._vrt(key), path, self.grids[key.resolution], threads=threads)

    def to_envi(self, key: EncodedKey, path: str | Path) -> None:
        """Write the mosaic of ``key`` as ENVI raw + ``.hdr``."""
        with self._env():
            envi_from(self._vrt(key), path)

    def read(self, key: EncodedKey, out_shape: tuple[int, int] | None = None) -> np.ndarray:
        """The mosaicked pixels of ``key`` (as :meth:`EncodedLayers.read`)."""
        vrt = self._vrt(key)
        try:
            with self._env(), rasterio.open(vrt) as src:
                shape = None if out_shape is None else (src.count, *out_shape)
                pixels = src.read(out_shape=shape, resampling=Resampling.average)
        except rasterio.errors.RasterioError as err:
            raise ProcessingError(
                f"cannot read the {key.stem} parts ({err})", path=self.folder_uri
            ) from err
        return pixels[0] if pixels.shape[0] == 1 else pixels

    def close(self) -> None:
        """Nothing to release: the parts stay where the workers stored them."""

    def __enter__(self) -> MosaicLayers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _env(self) -> Any:
        return gdal_env() if storage.is_s3(self.folder_uri) else nullcontext()

    def _vrt(self, key: EncodedKey) -> str:
        if key not in self._parts:
            raise OutputError(f"no {key.stem} layer in the parts", path=self.folder_uri)
        encoding = layer_encoding(key.layer, self._boa_add_offset)
        return mosaic_vrt(
            self.grids[key.resolution],
            self._parts[key],
            dtype=np.dtype(encoding.dtype).name,
            count=encoding.count,
            scale=encoding.scale,
            offset=encoding.offset,
        )


def mosaic_vrt(
    grid: RasterGrid,
    parts: Sequence[_Part],
    *,
    dtype: str,
    count: int,
    scale: float | None,
    offset: float | None,
) -> str:
    """The GDAL VRT document placing full-width row-band ``parts`` on ``grid``.

    Written by hand: rasterio has no ``BuildVRT``, and GDAL's VRT format is a small, documented
    XML (no-data 0, grey or red-green-blue bands, scale/offset as :func:`describe_bands`).
    """
    root = ET.Element("VRTDataset", rasterXSize=str(grid.width), rasterYSize=str(grid.height))
    ET.SubElement(root, "SRS").text = CRS.from_epsg(grid.crs_epsg).to_wkt()
    t = grid.transform
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(v) for v in (t.c, t.a, t.b, t.f, t.d, t.e)
    )
    colours = ("Red", "Green", "Blue") if count == 3 else ("Gray",) * count
    for band in range(1, count + 1):
        node = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPE[dtype], band=str(band))
        ET.SubElement(node, "NoDataValue").text = "0"
        ET.SubElement(node, "ColorInterp").text = colours[band - 1]
        if offset:
            ET.SubElement(node, "Offset").text = repr(offset)
        if scale is not None:
            ET.SubElement(node, "Scale").text = repr(scale)
        for part in parts:
            source = ET.SubElement(node, "SimpleSource")
            ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = storage.gdal_path(
                part.uri
            )
            ET.SubElement(source, "SourceBand").text = str(band)
            ET.SubElement(
                source,
                "SourceProperties",
                RasterXSize=str(grid.width),
                RasterYSize=str(part.rows),
                DataType=_GDAL_TYPE[dtype],
                BlockXSize=str(SCRATCH_BLOCK[1]),
                BlockYSize=str(SCRATCH_BLOCK[0]),
            )
            size = {"xSize": str(grid.width), "ySize": str(part.rows)}
            ET.SubElement(source, "SrcRect", {"xOff": "0", "yOff": "0"} | size)
            ET.SubElement(source, "DstRect", {"xOff": "0", "yOff": str(part.row_off)} | size)
    return ET.tostring(root, encoding="unicode")


def _read_manifest(folder_uri: str, part: str) -> dict[str, Any]:
    uri = storage.join(folder_uri, part_manifest_name(part))
    if not storage.exists(uri):
        raise ProcessingError(f"the manifest of part {part} is missing", path=uri)
    try:
        manifest = json.loads(storage.read_bytes(uri))
        manifest["layers"], manifest["grids"], manifest["boa_add_offset"]
    except (ValueError, KeyError, TypeError) as err:
        raise ProcessingError(f"not a part manifest ({err})", path=uri) from err
    return dict(manifest)


def _rows(
    grids: Mapping[int, RasterGrid], resolution: int, manifest: Mapping[str, Any], uri: str
) -> tuple[int, int]:
    """Rows of the tile grid a part covers, from the row band in its manifest."""
    grid = grids.get(resolution)
    band = manifest["grids"].get(str(resolution))
    if grid is None or band is None:
        raise ProcessingError(f"no {resolution} m grid for this part", path=uri)
    transform = Affine(*band["transform"])
    row_off = (transform.f - grid.transform.f) / grid.transform.e
    same_columns = band["width"] == grid.width and transform.c == grid.transform.c
    if not same_columns or transform.e != grid.transform.e or row_off != round(row_off):
        raise ProcessingError(f"part is not a row band of the {resolution} m grid", path=uri)
    return round(row_off), int(band["height"])


def _check_coverage(key: EncodedKey, parts: list[_Part], grid: RasterGrid, folder_uri: str) -> None:
    """The parts of ``key`` must tile rows 0..height once each."""
    parts.sort(key=lambda p: p.row_off)
    row = 0
    for part in parts:
        if part.row_off != row:
            raise ProcessingError(
                f"the parts of {key.stem} leave rows {row}..{part.row_off} uncovered"
                if part.row_off > row
                else f"the parts of {key.stem} overlap at row {part.row_off}",
                path=folder_uri,
            )
        row += part.rows
    if row != grid.height:
        raise ProcessingError(
            f"the parts of {key.stem} cover rows 0..{row} of {grid.height}", path=folder_uri
        )
