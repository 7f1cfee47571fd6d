"""Streaming band writers (core.io.block_writer): windows in any order, COG and JP2 out;
the strips windows come in (core.io.block_reader).

Truth: the same array written whole by core.io.cog.write_cog / core.io.jp2.write_jp2, and
rio-cogeo's validator. Grids are not multiples of the blocks, so edge windows are exercised.
"""

from __future__ import annotations

import filecmp
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.errors
import rasterio.shutil
from rasterio.transform import Affine
from rasterio.windows import Window
from rio_cogeo import cog_validate

from core.errors import OutputError
from core.io.block_reader import StripReader, strip_windows
from core.io.block_writer import (
    SCRATCH_BLOCK,
    BlockWriter,
    EncodePool,
    OverviewResampling,
    run_each,
)
from core.io.cog import write_cog
from core.io.jp2 import write_jp2
from core.product.metadata import RasterGrid

ROWS, COLS = 700, 1100
BLOCK = (64, 256)
RESAMPLINGS: tuple[OverviewResampling, ...] = ("AVERAGE", "NEAREST")
GRID = RasterGrid(
    resolution=20,
    width=COLS,
    height=ROWS,
    transform=Affine(20.0, 0.0, 600000.0, 0.0, -20.0, 5000040.0),
    crs_epsg=32632,
)


@pytest.fixture(scope="module")
def reflectance_dn() -> np.ndarray:
    """BOA-like uint16: smooth field + parcels + noise, a no-data corner."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:ROWS, 0:COLS]
    field = 1500 + 900 * np.sin(x / 90.0) * np.cos(y / 60.0) + ((x // 40 + y // 30) % 5) * 180
    dn = np.clip(field + rng.normal(0, 20, (ROWS, COLS)), 1, 11000).astype(np.uint16)
    dn[:50, :80] = 0
    return dn


def windows(rows: int, cols: int, seed: int) -> list[tuple[int, int]]:
    """Block-aligned window offsets covering the grid, shuffled."""
    offsets = [(r, c) for r in range(0, ROWS, rows) for c in range(0, COLS, cols)]
    random.Random(seed).shuffle(offsets)
    return offsets


def stream(
    array: np.ndarray,
    scratch: Path,
    pool: EncodePool,
    rows: int,
    cols: int,
    *,
    scale: float | None = None,
    offset: float | None = None,
) -> BlockWriter:
    """A writer fed with ``array`` (2-D or band-first 3-D) in shuffled ``rows`` x ``cols``
    windows."""
    writer = BlockWriter(
        GRID,
        array.dtype,
        scratch_dir=scratch,
        pool=pool,
        count=1 if array.ndim == 2 else array.shape[0],
        scale=scale,
        offset=offset,
        block=BLOCK,
    )
    for r, c in windows(rows, cols, seed=rows + cols):
        writer.write(array[..., r : r + rows, c : c + cols], r, c)
    return writer


def read(path: Path, overview: int | None = None) -> np.ndarray:
    with rasterio.open(path, overview_level=overview) as src:
        return src.read()


@pytest.mark.parametrize(("rows", "cols"), [(64, 256), (192, 512), (128, COLS)])
def test_windows_in_any_order_give_the_array_written_whole(
    tmp_path: Path, reflectance_dn: np.ndarray, rows: int, cols: int
) -> None:
    write_cog(str(tmp_path / "whole.tif"), reflectance_dn, GRID, kind="reflectance")
    with (
        EncodePool(threads=2, max_pending=3) as pool,
        stream(reflectance_dn, tmp_path, pool, rows, cols) as writer,
    ):
        writer.to_cog(tmp_path / "streamed.tif", threads=2)
    np.testing.assert_array_equal(read(tmp_path / "streamed.tif")[0], reflectance_dn)
    # the overviews too: same pixels in, same GDAL averaging out
    np.testing.assert_array_equal(
        read(tmp_path / "streamed.tif", overview=0), read(tmp_path / "whole.tif", overview=0)
    )


def test_multiband_windows(tmp_path: Path, reflectance_dn: np.ndarray) -> None:
    rgb = np.stack([(reflectance_dn >> s).astype(np.uint8) for s in (4, 5, 6)])
    with EncodePool(threads=2) as pool, stream(rgb, tmp_path, pool, 128, 512) as writer:
        writer.to_cog(tmp_path / "rgb.tif")
    np.testing.assert_array_equal(read(tmp_path / "rgb.tif"), rgb)


def test_cog_is_valid_with_overviews_scale_offset_and_nodata(
    tmp_path: Path, reflectance_dn: np.ndarray
) -> None:
    with (
        EncodePool() as pool,
        stream(reflectance_dn, tmp_path, pool, 128, 256, scale=1e-4, offset=-0.1) as writer,
    ):
        writer.to_cog(tmp_path / "boa.tif")
    valid, errors, _ = cog_validate(str(tmp_path / "boa.tif"), strict=False)
    assert valid, errors
    with rasterio.open(tmp_path / "boa.tif") as src:
        assert src.overviews(1) == [2, 4]  # halved until the larger side fits one block
        assert src.block_shapes[0] == (512, 512)
        assert src.compression is not None and src.compression.name.upper() == "ZSTD"
        assert src.scales == (1e-4,) and src.offsets == (-0.1,)
        assert src.nodata == 0


def test_overview_resampling_is_selectable(tmp_path: Path) -> None:
    """Two classes in a checkerboard: AVERAGE invents values between them, NEAREST does not."""
    classes = np.where((np.add.outer(np.arange(ROWS), np.arange(COLS)) % 2) == 0, 4, 8)
    classes = classes.astype(np.uint8)
    with EncodePool() as pool:
        for resampling in RESAMPLINGS:
            with stream(classes, tmp_path, pool, 64, 512) as writer:
                writer.to_cog(tmp_path / f"{resampling}.tif", overview_resampling=resampling)
    assert set(np.unique(read(tmp_path / "AVERAGE.tif", overview=0))) == {6}
    assert set(np.unique(read(tmp_path / "NEAREST.tif", overview=0))) <= {4, 8}


def test_jp2_is_lossless_and_identical_to_write_jp2(
    tmp_path: Path, reflectance_dn: np.ndarray
) -> None:
    write_jp2(str(tmp_path / "whole.jp2"), reflectance_dn, GRID)
    with EncodePool() as pool, stream(reflectance_dn, tmp_path, pool, 192, 256) as writer:
        writer.to_jp2(tmp_path / "streamed.jp2")
        writer.to_cog(tmp_path / "streamed.tif")  # both outputs from one scratch
    with rasterio.open(tmp_path / "streamed.jp2") as src:
        assert src.driver == "JP2OpenJPEG" and src.crs.to_epsg() == GRID.crs_epsg
        assert src.transform == GRID.transform
        np.testing.assert_array_equal(src.read(1), reflectance_dn)
    assert filecmp.cmp(tmp_path / "whole.jp2", tmp_path / "streamed.jp2", shallow=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "streamed.jp2",
        "streamed.tif",
        "whole.jp2",
    ]


def test_small_band_can_stay_in_memory(tmp_path: Path, reflectance_dn: np.ndarray) -> None:
    with EncodePool() as pool:
        writer = stream(reflectance_dn, Path("/vsimem/sen2cloud-test"), pool, 128, 512)
        with writer:
            writer.to_cog(tmp_path / "boa.tif")
    assert not rasterio.shutil.exists(writer.scratch_path)
    np.testing.assert_array_equal(read(tmp_path / "boa.tif")[0], reflectance_dn)


def test_pool_holds_at_most_max_pending_windows() -> None:
    """A producer faster than the workers is held back after ``max_pending`` windows."""
    gate = threading.Event()
    submitted: list[int] = []
    with EncodePool(threads=2, max_pending=3) as pool:

        def produce() -> None:
            for i in range(10):
                pool.submit(lambda: gate.wait(timeout=30))
                submitted.append(i)

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(timeout=0.5)  # the producer is stuck on the 4th window
        assert producer.is_alive()
        assert len(submitted) == 3 and pool.pending == 3
        gate.set()
        producer.join(timeout=30)
    assert len(submitted) == 10
    assert pool.peak_pending == 3 and pool.pending == 0


def test_writer_never_exceeds_the_pool_bound(tmp_path: Path, reflectance_dn: np.ndarray) -> None:
    with EncodePool(threads=2, max_pending=2) as pool:
        with stream(reflectance_dn, tmp_path, pool, 64, 256) as writer:
            writer.wait()
        assert pool.peak_pending <= 2


@pytest.mark.parametrize(
    ("row", "col", "rows", "cols", "problem"),
    [
        (32, 0, 64, 256, "not aligned"),
        (0, 0, 100, 256, "not aligned"),
        (640, 0, 128, 256, "outside"),
        (64, 256, 64, 256, "overlaps"),
    ],
)
def test_bad_windows_are_refused(
    tmp_path: Path, row: int, col: int, rows: int, cols: int, problem: str
) -> None:
    with EncodePool() as pool:
        writer = BlockWriter(GRID, np.uint16, scratch_dir=tmp_path, pool=pool, block=BLOCK)
        with writer:
            writer.write(np.ones((64, 256), np.uint16), 64, 256)
            with pytest.raises(OutputError, match=problem):
                writer.write(np.ones((rows, cols), np.uint16), row, col)
            with pytest.raises(OutputError, match="does not match"):
                writer.write(np.ones((64, 256), np.float32), 0, 0)


def test_incomplete_raster_is_not_encoded(tmp_path: Path) -> None:
    with EncodePool() as pool:
        writer = BlockWriter(GRID, np.uint16, scratch_dir=tmp_path, pool=pool, block=BLOCK)
        with writer:
            writer.write(np.ones((64, 256), np.uint16), 0, 0)
            with pytest.raises(OutputError, match="never written"):
                writer.to_cog(tmp_path / "boa.tif")
    assert list(tmp_path.iterdir()) == []


def _fail_after_partial_output(path: str, *_: object, **__: object) -> None:
    Path(path).write_bytes(b"half a raster")
    raise rasterio.errors.RasterioIOError("disk full")


@pytest.mark.parametrize("output", ["cog", "jp2"])
def test_failure_mid_write_leaves_nothing(
    tmp_path: Path, reflectance_dn: np.ndarray, monkeypatch: pytest.MonkeyPatch, output: str
) -> None:
    scratch, out = tmp_path / "scratch", tmp_path / "out"
    scratch.mkdir()
    out.mkdir()
    monkeypatch.setattr(
        rasterio.shutil, "copy", lambda _src, dst, **kw: _fail_after_partial_output(dst)
    )
    with EncodePool() as pool, stream(reflectance_dn, scratch, pool, 128, 512) as writer:
        encode = writer.to_cog if output == "cog" else writer.to_jp2
        with pytest.raises(OutputError, match="disk full"):
            encode(out / f"boa.{'tif' if output == 'cog' else 'jp2'}")
    assert list(out.iterdir()) == []
    assert list(scratch.iterdir()) == []


def test_error_while_producing_removes_the_scratch(tmp_path: Path) -> None:
    with (
        EncodePool() as pool,
        pytest.raises(RuntimeError),
        BlockWriter(GRID, np.uint16, scratch_dir=tmp_path, pool=pool, block=BLOCK) as writer,
    ):
        writer.write(np.ones((64, 256), np.uint16), 0, 0)
        raise RuntimeError("kernel failed")
    assert list(tmp_path.iterdir()) == []


def test_windows_cannot_come_from_the_pool_threads() -> None:
    """A pool thread waiting for a slot that only pool threads free would wait forever."""
    with EncodePool(threads=1, max_pending=1) as pool:
        future = pool.executor.submit(pool.submit, lambda: None)
        with pytest.raises(RuntimeError, match="outside the pool"):
            future.result(timeout=30)


@pytest.mark.parametrize("size", [10980, 5490, 1830, 120])
def test_strips_cover_the_tile_on_the_scratch_block_grid(size: int) -> None:
    """The strips of one tile at 10/20/60 m: same count, same ground, block-aligned rows."""
    per_resolution = {}
    for resolution in (10, 20, 60):
        pixels = size * 10 // resolution
        grid = RasterGrid(resolution, pixels, pixels, Affine.identity(), 32632)
        strips = strip_windows(grid)
        assert sum(w.height for w in strips) == pixels
        assert all(w.width == pixels and w.col_off == 0 for w in strips)
        assert all(w.row_off % SCRATCH_BLOCK[0] == 0 for w in strips)
        assert all(w.height % SCRATCH_BLOCK[0] == 0 for w in strips[:-1])
        per_resolution[resolution] = [
            (w.row_off * resolution, w.height * resolution) for w in strips
        ]
    assert per_resolution[10] == per_resolution[20] == per_resolution[60]


def test_run_each_returns_in_order_and_raises_after_all_ended() -> None:
    ended: list[int] = []

    def work(item: int) -> int:
        if item == 1:
            raise ValueError("band 1 is corrupt")
        time.sleep(0.05)
        ended.append(item)
        return item * 10

    with ThreadPoolExecutor(2) as executor:
        assert run_each(lambda i: i * 10, [3, 1, 2], executor) == {3: 30, 1: 10, 2: 20}
        assert list(run_each(lambda i: i, [3, 1, 2], executor)) == [3, 1, 2]
        with pytest.raises(ValueError, match="corrupt"):
            run_each(work, [0, 1, 2, 3], executor)
    assert sorted(ended) == [0, 2, 3]


def test_a_failed_window_store_is_raised(tmp_path: Path) -> None:
    with EncodePool() as pool:
        writer = BlockWriter(GRID, np.uint16, scratch_dir=tmp_path, pool=pool, block=BLOCK)
        with writer:
            writer._dataset.close()  # the scratch becomes unwritable, as on a full disk
            writer.write(np.ones((64, 256), np.uint16), 0, 0)
            with pytest.raises(OutputError, match="storing a window failed"):
                writer.wait()
            with pytest.raises(OutputError, match="storing a window failed"):
                writer.write(np.ones((64, 256), np.uint16), 64, 0)
    assert list(tmp_path.iterdir()) == []


class _CountingDataset:
    """A rasterio dataset that records the row ranges decoded."""

    def __init__(self, dataset: rasterio.io.DatasetReader) -> None:
        self._dataset = dataset
        self.width, self.height = dataset.width, dataset.height
        self.block_shapes, self.dtypes = dataset.block_shapes, dataset.dtypes
        self.reads: list[tuple[int, int]] = []

    def read(self, index: int, *, window: Window) -> np.ndarray:
        self.reads.append((int(window.row_off), int(window.row_off + window.height)))
        return self._dataset.read(index, window=window)


def test_strip_reader_decodes_each_tile_row_once(tmp_path: Path) -> None:
    """Strips of 576 rows over 1024-row JP2 tiles: exact pixels, every row decoded once, in
    whole tile rows."""
    rows = 2600
    grid = RasterGrid(20, 300, rows, GRID.transform, GRID.crs_epsg)
    values = np.random.default_rng(4).integers(1, 4000, (rows, 300)).astype(np.uint16)
    write_jp2(str(tmp_path / "band.jp2"), values, grid)
    with rasterio.open(tmp_path / "band.jp2") as src:
        assert src.block_shapes[0][0] == 1024
        counting = _CountingDataset(src)
        reader = StripReader(counting)
        for window in strip_windows(grid):
            strip = reader.read(window)
            np.testing.assert_array_equal(strip, values[window.toslices()])
        assert counting.reads == [(0, 1024), (1024, 2048), (2048, 2600)]
        with pytest.raises(ValueError, match="above"):
            reader.read(Window(0, 0, 300, 576))
        with pytest.raises(ValueError, match="columns"):
            StripReader(counting).read(Window(0, 0, 100, 576))
