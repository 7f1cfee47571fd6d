"""The I/O floor of one tile: decode the L1C inputs and encode the L2A outputs, nothing else.

Issue #7 compares the pipeline with the time it would take to only decode the same inputs and
encode the same outputs, with the same codecs and threads:

* **decode**: the 13 L1C bands, strip by strip (:func:`core.io.block_reader.strip_windows`,
  each JP2 tile decoded once by :class:`~core.io.block_reader.StripReader`), the bands of a
  strip decoded on ``threads`` threads, one GDAL thread each. Each decoded
  window is handed to the output writers (block-mean down-sampling or pixel repetition to
  the output resolutions, then :class:`~core.io.block_writer.BlockWriter` scratch files), as
  the pipeline will (this staging is part of the stage's time: compare the stage
  ``decode_toa_all_bands`` of :mod:`benchmarks.run` for a decode-only figure).
* **encode**: the Sen2Cor L2A rasters (:data:`core.product.l2a_rasters.BOA_BANDS` at 10, 20
  and 60 m, SCL at :data:`~core.product.l2a_rasters.SCL_RESOLUTIONS`, AOT and WVP at every
  resolution), as COGs, then separately as lossless JP2s, ``threads`` bands at a time.

Output content: each BOA layer carries its L1C band's DN (the same entropy as a reflectance
band); SCL is B11 quantised into 12 classes, AOT and WVP are B01 and B09 DN / 8 (smoother,
cheaper content, as the real layers are). TCI, the cloud/snow probabilities and the STAC item
(a few kB) are not encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.windows import Window

from core.bands import BANDS, RESOLUTIONS
from core.bands import band as band_info
from core.io.block_reader import STRIP_M, StripReader, strip_windows
from core.io.block_writer import BlockWriter, EncodePool, OverviewResampling, run_each
from core.product.l1c import L1CProduct
from core.product.l2a_rasters import BOA_BANDS, SCL_RESOLUTIONS
from core.resample import block_mean

SCL_CLASSES = 12
"""SCL codes 0-11."""
SCL_DN_STEP = 800
"""B11 DN per synthetic SCL class."""
AUX_DN_SHIFT = 3
"""AOT/WVP stand-ins: source DN >> 3 (one eighth), smoother than a reflectance band."""


@dataclass(frozen=True, slots=True)
class FloorLayer:
    """One L2A raster of the floor: its name, resolution, type and the L1C band it comes from."""

    name: str
    resolution: int
    source: str
    dtype: type
    overviews: OverviewResampling
    content: Callable[[np.ndarray], np.ndarray]


def _dn(values: np.ndarray) -> np.ndarray:
    return values


def _scl(values: np.ndarray) -> np.ndarray:
    return np.minimum(values // SCL_DN_STEP, SCL_CLASSES - 1).astype(np.uint8)


def _aux(values: np.ndarray) -> np.ndarray:
    return values >> AUX_DN_SHIFT


def floor_layers() -> list[FloorLayer]:
    """The rasters Sen2Cor writes per resolution (BOA, SCL, AOT, WVP), largest first."""
    layers = [
        FloorLayer(f"{band}_{res}m", res, band, np.uint16, "AVERAGE", _dn)
        for res, bands in BOA_BANDS.items()
        for band in bands
    ]
    layers += [
        FloorLayer(f"SCL_{res}m", res, "B11", np.uint8, "MODE", _scl) for res in SCL_RESOLUTIONS
    ]
    for name, source in (("AOT", "B01"), ("WVP", "B09")):
        layers += [
            FloorLayer(f"{name}_{res}m", res, source, np.uint16, "AVERAGE", _aux)
            for res in RESOLUTIONS
        ]
    return sorted(layers, key=lambda layer: layer.resolution)


def _resample(values: np.ndarray, native: int, resolution: int) -> np.ndarray:
    """Block mean to a coarser grid, pixel repetition to a finer one."""
    if resolution > native:
        return block_mean(values, resolution // native, dtype=np.uint16)
    factor = native // resolution
    return np.repeat(np.repeat(values, factor, axis=0), factor, axis=1) if factor > 1 else values


class IoFloor:
    """Decode stage then encode stages of the floor for one product, in ``work``."""

    def __init__(self, product: L1CProduct, work: Path, *, threads: int) -> None:
        self.product = product
        self.work = work
        self.threads = threads
        self.layers = floor_layers()
        self._pool = EncodePool(threads, max_pending=2 * threads)
        # decoding threads produce the windows, so they cannot be the pool's own threads
        self._decoders = ThreadPoolExecutor(threads, thread_name_prefix="l1c-decode")
        self._writers: dict[str, BlockWriter] = {}

    def decode(self) -> dict[str, Any]:
        """Decode every L1C band strip by strip into the output writers."""
        scratch = self.work / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        grids = self.product.metadata.grids
        for layer in self.layers:
            self._writers[layer.name] = BlockWriter(
                grids[layer.resolution],
                layer.dtype,
                scratch_dir=scratch,
                pool=self._pool,
                name=layer.name,
            )
        names = [band.name for band in sorted(BANDS, key=lambda b: b.resolution)]
        strips = {name: strip_windows(grids[band_info(name).resolution]) for name in names}
        # one OpenJPEG thread per read (GDAL's default is one per core), set when opening
        with ExitStack() as stack:
            stack.enter_context(rasterio.Env(GDAL_NUM_THREADS="1"))
            readers = {
                name: StripReader(
                    stack.enter_context(rasterio.open(self.product.files.bands[name]))
                )
                for name in names
            }
            for index in range(len(strips[names[0]])):
                run_each(
                    lambda name: self._decode_window(readers[name], name, strips[name][index]),  # noqa: B023 - run_each returns before the next index
                    names,
                    self._decoders,
                )
        for writer in self._writers.values():
            writer.wait()
        return {"strip_m": STRIP_M}

    def encode(self, fmt: str) -> dict[str, Any]:
        """Encode every layer as ``fmt`` (``"cog"`` or ``"jp2"``), ``threads`` bands at a time."""
        out = self.work / fmt
        out.mkdir(exist_ok=True)

        def encode(layer: FloorLayer) -> None:
            writer = self._writers[layer.name]
            if fmt == "cog":
                writer.to_cog(out / f"{layer.name}.tif", overview_resampling=layer.overviews)
            else:
                writer.to_jp2(out / f"{layer.name}.jp2")

        run_each(encode, self.layers, self._pool.executor)
        sizes = [p.stat().st_size for p in out.iterdir()]
        return {"files": len(sizes), "output_mb": round(sum(sizes) / 1e6, 1)}

    def close(self) -> None:
        """Delete the scratch files and stop the threads."""
        for writer in self._writers.values():
            writer.close()
        self._decoders.shutdown()
        self._pool.shutdown()

    def _decode_window(self, reader: StripReader, name: str, window: Window) -> None:
        with rasterio.Env(GDAL_NUM_THREADS="1"):
            values = reader.read(window)
        native = band_info(name).resolution
        for layer in self.layers:
            if layer.source != name:
                continue
            data = layer.content(_resample(values, native, layer.resolution))
            scale = native / layer.resolution
            self._writers[layer.name].write(
                data, round(window.row_off * scale), round(window.col_off * scale)
            )
