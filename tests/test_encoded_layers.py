"""Encoded layers assembled from row windows (core.product.encoded_layers) and the product
writers reading them.

Truth: the same layers encoded whole by the in-memory writers (core.io.cog.write_cog,
core.io.jp2.write_jp2, write_l2a_product / write_cloud_product given arrays), the QIs of
core.product.l2a_quality.image_content_qi, and rio-cogeo's validator. Grids are not multiples
of the 64-row scratch block, so the bottom windows are short.
"""

from __future__ import annotations

import dataclasses
import filecmp
import random
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import rasterio
from l2a_fixtures import simulated_l1c_0400, synthetic_layers
from rasterio.transform import Affine
from rio_cogeo import cog_validate

from core.errors import OutputError, ProcessingError
from core.io.block_writer import EncodePool
from core.io.cog import LayerKind, write_cog
from core.io.jp2 import write_jp2
from core.product.cloud_product import THUMBNAIL_FILE, write_cloud_product
from core.product.encoded_layers import (
    EncodedKey,
    EncodedLayers,
    EncodedRasters,
    MosaicLayers,
    row_band,
)
from core.product.l1c import L1CProduct
from core.product.l2a import L2ALayers, L2AWriteOptions, write_l2a_product
from core.product.l2a_quality import image_content_qi
from core.product.l2a_rasters import (
    AOT_QUANTIFICATION_VALUE,
    BOA_ADD_OFFSET,
    BOA_QUANTIFICATION_VALUE,
    ImageFormat,
    encode_boa,
    encode_scaled,
)
from core.product.metadata import ProcessingBaseline, RasterGrid
from core.product.quicklook import TCI_BANDS, true_colour
from core.stac.footprint import footprint, tile_outline

GRID = RasterGrid(
    resolution=20,
    width=700,
    height=300,
    transform=Affine(20.0, 0.0, 600000.0, 0.0, -20.0, 5000040.0),
    crs_epsg=32632,
)
ROWS = 64


def row_offsets(height: int, rows: int, seed: int) -> list[int]:
    offsets = list(range(0, height, rows))
    random.Random(seed).shuffle(offsets)
    return offsets


def encode_by_windows(
    layers: L2ALayers,
    grids: dict[int, RasterGrid],
    scratch: Path,
    pool: EncodePool,
    *,
    rows: int = ROWS,
) -> EncodedLayers:
    """Every BOA/AOT/WVP/TCI layer of ``layers`` fed to an EncodedLayers window by window, in
    shuffled order, from three producer threads."""
    encoded = EncodedLayers(grids, scratch, pool=pool)
    jobs: list[tuple[Callable[..., None], tuple[Any, ...], dict[str, Any]]] = []
    for res, grid in grids.items():
        scl = layers.scene_class.get(res)
        for row in row_offsets(grid.height, rows, seed=res):
            rows_ = slice(row, row + rows)
            valid = None if scl is None else scl[rows_] != 0
            for band, rho in layers.boa.get(res, {}).items():
                jobs.append((encoded.write_boa, (res, band, rho[rows_], row), {"valid": valid}))
            for name, values in (("aot", layers.aot550), ("wvp", layers.wvp_cm)):
                if res in values:
                    jobs.append((encoded.write_scaled, (name, res, values[res][rows_], row), {}))
            if all(b in layers.boa.get(res, {}) for b in TCI_BANDS):
                rgb = [layers.boa[res][b][rows_] for b in TCI_BANDS]
                jobs.append((encoded.write_visual, (res, *rgb, row), {}))
    random.Random(1).shuffle(jobs)
    with ThreadPoolExecutor(3) as producers:
        for future in [producers.submit(f, *args, **kw) for f, args, kw in jobs]:
            future.result()
    return encoded


def only_encoded(layers: L2ALayers, encoded: EncodedRasters) -> L2ALayers:
    """``layers`` with BOA, AOT and WVP held only in ``encoded``."""
    return dataclasses.replace(layers, boa={}, aot550={}, wvp_cm={}, encoded=encoded)


@pytest.fixture(scope="module")
def small_layers() -> L2ALayers:
    return synthetic_layers({20: GRID}, seed=3)


def read(path: Path, overview: int | None = None) -> np.ndarray:
    with rasterio.open(path, overview_level=overview) as src:
        return src.read()


@pytest.mark.parametrize(
    ("key", "whole"),
    [
        (
            EncodedKey("boa", 20, "B04"),
            lambda layers: encode_boa(
                layers.boa[20]["B04"], BOA_QUANTIFICATION_VALUE, BOA_ADD_OFFSET
            ),
        ),
        (
            EncodedKey("aot", 20),
            lambda layers: encode_scaled(layers.aot550[20], AOT_QUANTIFICATION_VALUE),
        ),
        (
            EncodedKey("visual", 20),
            lambda layers: true_colour(*(layers.boa[20][b] for b in TCI_BANDS)),
        ),
    ],
)
def test_windows_on_threads_give_the_cog_and_jp2_of_the_whole_array(
    tmp_path: Path, small_layers: L2ALayers, key: EncodedKey, whole
) -> None:
    pixels = whole(small_layers)
    kind: LayerKind = "continuous" if key.layer == "aot" else "reflectance"
    scale, offset = {
        "boa": (1e-4, -0.1),
        "aot": (1e-3, 0.0),
        "visual": (None, None),
    }[key.layer]
    write_cog(str(tmp_path / "whole.tif"), pixels, GRID, kind=kind, scale=scale, offset=offset)
    write_jp2(str(tmp_path / "whole.jp2"), pixels, GRID)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with (
        EncodePool(threads=2, max_pending=3) as pool,
        encode_by_windows(small_layers, {20: GRID}, scratch, pool) as encoded,
    ):
        encoded.to_cog(key, tmp_path / "streamed.tif", threads=2)
        encoded.to_jp2(key, tmp_path / "streamed.jp2")
        np.testing.assert_array_equal(encoded.read(key), pixels)
    assert list(scratch.iterdir()) == []
    np.testing.assert_array_equal(read(tmp_path / "streamed.tif"), read(tmp_path / "whole.tif"))
    np.testing.assert_array_equal(
        read(tmp_path / "streamed.tif", 0), read(tmp_path / "whole.tif", 0)
    )
    assert filecmp.cmp(tmp_path / "whole.jp2", tmp_path / "streamed.jp2", shallow=False)
    valid, errors, _ = cog_validate(str(tmp_path / "streamed.tif"), strict=False)
    assert valid, errors
    with (
        rasterio.open(tmp_path / "streamed.tif") as src,
        rasterio.open(tmp_path / "whole.tif") as ref,
    ):
        assert src.overviews(1) == ref.overviews(1) and src.overviews(1)
        assert src.nodata == ref.nodata == 0
        assert src.scales == ref.scales and src.offsets == ref.offsets
        if scale is not None:
            assert src.scales[0] == pytest.approx(scale) and src.offsets[0] == offset


def test_keys_bands_and_negative_boa_share_as_image_content_qi(
    tmp_path: Path, small_layers: L2ALayers
) -> None:
    with (
        EncodePool() as pool,
        encode_by_windows(small_layers, {20: GRID}, tmp_path, pool) as encoded,
    ):
        bands = tuple(sorted(small_layers.boa[20]))
        assert encoded.boa_bands(20) == bands
        assert encoded.keys() == tuple(
            sorted(
                [EncodedKey("boa", 20, b) for b in bands]
                + [EncodedKey("aot", 20), EncodedKey("wvp", 20), EncodedKey("visual", 20)]
            )
        )
        assert encoded.has(EncodedKey("wvp", 20)) and not encoded.has(EncodedKey("wvp", 60))
        qi = image_content_qi(
            small_layers.scene_class[20],
            aot550=small_layers.aot550[20],
            wvp_cm=small_layers.wvp_cm[20],
            boa=small_layers.boa[20],
        )
        negatives = encoded.negative_boa_percentage(20)
        assert negatives.keys() == qi.negative_boa_percentage.keys()
        for band, share in qi.negative_boa_percentage.items():
            assert share > 0.5  # the synthetic reflectances start at -0.02
            assert negatives[band] == pytest.approx(share, rel=1e-12)
        assert encoded.granule_mean("aot", 20) == pytest.approx(qi.granule_mean_aot, rel=1e-6)
        assert encoded.granule_mean("wvp", 20) == pytest.approx(qi.granule_mean_wv, rel=1e-6)
        assert encoded.granule_mean("aot", 60) is None


def test_a_missing_window_names_the_scratch(tmp_path: Path, small_layers: L2ALayers) -> None:
    rho = small_layers.boa[20]["B02"]
    key = EncodedKey("boa", 20, "B02")
    with EncodePool() as pool, EncodedLayers({20: GRID}, tmp_path, pool=pool) as encoded:
        for row in (0, 128, 192, 256):  # rows 64..127 never arrive
            encoded.write_boa(20, "B02", rho[row : row + ROWS], row)
        with pytest.raises(OutputError, match=r"boa_20_B02-\w+\.tif: 2 of 10 blocks") as err:
            encoded.to_cog(key, tmp_path / "B02.tif")
        assert str(tmp_path) in str(err.value)
        with pytest.raises(OutputError, match="no aot_20 layer was written"):
            encoded.to_jp2(EncodedKey("aot", 20), tmp_path / "AOT.jp2")
        with pytest.raises(OutputError, match="not aligned"):
            encoded.write_boa(20, "B03", rho[10:74], 10)
    assert list(tmp_path.iterdir()) == []


def test_scratch_is_removed_after_a_failure(tmp_path: Path, small_layers: L2ALayers) -> None:
    with (
        EncodePool() as pool,
        pytest.raises(RuntimeError, match="correction failed"),
        EncodedLayers({20: GRID}, tmp_path, pool=pool) as encoded,
    ):
        encoded.write_scaled("wvp", 20, small_layers.wvp_cm[20][:64], 0)
        raise RuntimeError("correction failed")
    assert list(tmp_path.iterdir()) == []


# -- product writers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[L1CProduct, L2ALayers]:
    """A simulated baseline-04.00 L1C (366/183/61 px) and synthetic layers on its grids."""
    l1c = simulated_l1c_0400(tmp_path_factory.mktemp("l1c"))
    return l1c, synthetic_layers(l1c.metadata.grids, seed=4)


def _tree(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}


def _envi_header(path: Path) -> list[str]:
    """Header lines but the description (GDAL writes the staging path there)."""
    lines = path.read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("description"))
    end = next(i for i in range(start, len(lines)) if lines[i].endswith("}"))
    return lines[:start] + lines[end + 1 :]


def _unsized(manifest: Path) -> str:
    """The manifest without file sizes and checksums."""
    text = re.sub(r'size="\d+"', "", manifest.read_text())
    return re.sub(r"<checksum [^>]*>\w+</checksum>", "", text)


def _assert_same_files(ours: Path, truth: Path) -> None:
    """Same names; rasters with the same pixels, other files byte-identical, but the COG bytes
    (GDAL's copy and create paths order tags differently), the ENVI header's description (the
    staging path) and so the manifest's sizes and checksums."""
    files, expected = _tree(ours), _tree(truth)
    assert files.keys() == expected.keys()
    for name, path in expected.items():
        if path.suffix in (".jp2", ".tif", ".rawl", ".png"):
            np.testing.assert_array_equal(read(files[name]), read(path), err_msg=name)
        if path.suffix == ".hdr":
            assert _envi_header(files[name]) == _envi_header(path), name
        elif name == "manifest.safe":
            assert _unsized(files[name]) == _unsized(path)
        elif path.suffix != ".tif":
            assert filecmp.cmp(files[name], path, shallow=False), name


@pytest.mark.parametrize("image_format", ["JP2", "TIF", "RAW"])
def test_safe_product_from_encoded_layers_equals_the_in_memory_one(
    scene, tmp_path: Path, image_format: ImageFormat
) -> None:
    l1c, layers = scene
    options = L2AWriteOptions(
        processing_baseline=ProcessingBaseline(4, 0), image_format=image_format
    )
    generated = l1c.metadata.sensing_time
    truth = write_l2a_product(
        l1c, str(tmp_path / "memory"), layers=layers, options=options, generation_time=generated
    )
    (tmp_path / "scratch").mkdir()
    with (
        EncodePool() as pool,
        encode_by_windows(layers, l1c.metadata.grids, tmp_path / "scratch", pool) as encoded,
    ):
        ours = write_l2a_product(
            l1c,
            str(tmp_path / "encoded"),
            layers=only_encoded(layers, encoded),
            options=options,
            generation_time=generated,
        )
    _assert_same_files(Path(ours), Path(truth))
    assert list((tmp_path / "scratch").iterdir()) == []


def test_old_baseline_refuses_boa_encoded_with_the_offset(scene, tmp_path: Path) -> None:
    l1c, layers = scene
    options = L2AWriteOptions(processing_baseline=ProcessingBaseline(3, 0))
    with (
        EncodePool() as pool,
        encode_by_windows(layers, l1c.metadata.grids, tmp_path, pool) as encoded,
        pytest.raises(OutputError, match="BOA_ADD_OFFSET -1000, the product 0"),
    ):
        write_l2a_product(
            l1c, str(tmp_path / "out"), layers=only_encoded(layers, encoded), options=options
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cloud_product_from_encoded_layers_equals_the_in_memory_one(scene, tmp_path: Path) -> None:
    l1c, layers = scene
    generated = l1c.metadata.sensing_time
    common = {"l1c_href": "s3://input/l1c.SAFE", "generation_time": generated}
    truth = write_cloud_product(l1c, layers, str(tmp_path / "memory"), **common)
    (tmp_path / "scratch").mkdir()
    with (
        EncodePool() as pool,
        encode_by_windows(layers, l1c.metadata.grids, tmp_path / "scratch", pool) as encoded,
    ):
        ours = write_cloud_product(
            l1c, only_encoded(layers, encoded), str(tmp_path / "encoded"), **common
        )
    assert ours.item.assets.keys() == truth.item.assets.keys()
    assert [Path(f).name for f in ours.files] == [Path(f).name for f in truth.files]
    for name in (Path(f).name for f in truth.files if f.endswith(".tif")):
        assert cog_validate(str(tmp_path / "encoded" / name), strict=False)[0], name
        with rasterio.open(tmp_path / "memory" / name) as src:
            levels = [None, *range(len(src.overviews(1)))]
        for level in levels:
            np.testing.assert_array_equal(
                read(tmp_path / "encoded" / name, level),
                read(tmp_path / "memory" / name, level),
                err_msg=name,
            )
    np.testing.assert_array_equal(
        read(tmp_path / "encoded" / THUMBNAIL_FILE), read(tmp_path / "memory" / THUMBNAIL_FILE)
    )
    mine = ours.item.to_dict(transform_hrefs=False)
    theirs = truth.item.to_dict(transform_hrefs=False)
    for document in (mine, theirs):
        for asset in document["assets"].values():
            asset.pop("href")
        document["links"] = []
    assert mine == theirs


# -- fan-out parts -------------------------------------------------------------------------

BANDS_M = ((0, 1200), (1200, 2400), (2400, 3660))
"""Row bands (metres from the top) of three fan-out workers over the 3660 m simulated tile."""


def _row_slice(layers: L2ALayers, rows: dict[int, slice]) -> L2ALayers:
    """``layers`` cut to the rows ``rows[resolution]`` of each resolution."""

    def cut(by_res: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        return {res: values[rows[res]] for res, values in by_res.items() if res in rows}

    return dataclasses.replace(
        layers,
        boa={res: {b: v[rows[res]] for b, v in bands.items()} for res, bands in layers.boa.items()},
        aot550=cut(layers.aot550),
        wvp_cm=cut(layers.wvp_cm),
        scene_class=cut(layers.scene_class),
    )


def save_parts(
    layers: L2ALayers, grids: dict[int, RasterGrid], folder: str, scratch: Path, pool: EncodePool
) -> list[str]:
    """The tile saved as one part per row band of :data:`BANDS_M` (as three workers would)."""
    parts = []
    for index, (top, bottom) in enumerate(BANDS_M):
        rows = {res: slice(top // res, bottom // res) for res in grids}
        band_grids = {
            res: row_band(g, rows[res].start, rows[res].stop - rows[res].start)
            for res, g in grids.items()
        }
        band_layers = _row_slice(layers, rows)
        with encode_by_windows(band_layers, band_grids, scratch, pool) as encoded:
            parts.append(f"{index:03d}")
            encoded.save_parts(folder, part=parts[-1])
    return parts


def test_parts_mosaic_to_the_one_piece_rasters_and_statistics(scene, tmp_path: Path) -> None:
    l1c, layers = scene
    grids = dict(l1c.metadata.grids)
    (tmp_path / "scratch").mkdir()
    with EncodePool() as pool:
        parts = save_parts(layers, grids, str(tmp_path / "parts"), tmp_path / "scratch", pool)
        assert sorted(p.name for p in (tmp_path / "parts").iterdir())[:2] == [
            "aot_10.part-000.tif",
            "aot_10.part-001.tif",
        ]
        mosaic = MosaicLayers.from_parts(grids, str(tmp_path / "parts"), parts)
        with encode_by_windows(layers, grids, tmp_path / "scratch", pool) as whole:
            assert mosaic.keys() == whole.keys()
            for key in (
                EncodedKey("boa", 10, "B04"),
                EncodedKey("aot", 20),
                EncodedKey("visual", 60),
            ):
                for source, name in ((whole, "whole"), (mosaic, "mosaic")):
                    source.to_cog(key, tmp_path / f"{name}.tif")
                    source.to_jp2(key, tmp_path / f"{name}.jp2")
                np.testing.assert_array_equal(
                    read(tmp_path / "mosaic.tif"), read(tmp_path / "whole.tif")
                )
                np.testing.assert_array_equal(mosaic.read(key), whole.read(key))
                np.testing.assert_array_equal(  # a thumbnail's reduced read
                    mosaic.read(key, (17, 13)), whole.read(key, (17, 13))
                )
                assert filecmp.cmp(tmp_path / "whole.jp2", tmp_path / "mosaic.jp2", shallow=False)
                assert cog_validate(str(tmp_path / "mosaic.tif"), strict=False)[0]
            for res in (20, 60):
                ours, truth = (
                    mosaic.negative_boa_percentage(res),
                    whole.negative_boa_percentage(res),
                )
                assert list(ours) == list(truth)
                assert ours == pytest.approx(truth, rel=1e-12)
                assert mosaic.granule_mean("wvp", res) == pytest.approx(
                    whole.granule_mean("wvp", res)
                )
    assert list((tmp_path / "scratch").iterdir()) == []


def test_safe_product_from_parts_equals_the_in_memory_one(scene, tmp_path: Path) -> None:
    l1c, layers = scene
    options = L2AWriteOptions(processing_baseline=ProcessingBaseline(4, 0))
    generated = l1c.metadata.sensing_time
    truth = write_l2a_product(
        l1c, str(tmp_path / "memory"), layers=layers, options=options, generation_time=generated
    )
    (tmp_path / "scratch").mkdir()
    grids = dict(l1c.metadata.grids)
    with EncodePool() as pool:
        parts = save_parts(layers, grids, str(tmp_path / "parts"), tmp_path / "scratch", pool)
    with MosaicLayers.from_parts(grids, str(tmp_path / "parts"), parts) as mosaic:
        ours = write_l2a_product(
            l1c,
            str(tmp_path / "mosaic"),
            layers=only_encoded(layers, mosaic),
            options=options,
            generation_time=generated,
        )
    _assert_same_files(Path(ours), Path(truth))


def test_missing_or_inconsistent_parts_are_clear_errors(scene, tmp_path: Path) -> None:
    l1c, layers = scene
    grids = dict(l1c.metadata.grids)
    folder = tmp_path / "parts"
    with EncodePool() as pool:
        parts = save_parts(layers, grids, str(folder), tmp_path, pool)
    (folder / "boa_20_B8A.part-001.tif").unlink()
    with pytest.raises(
        ProcessingError, match=r"boa_20_B8A\.part-001\.tif: part 001 of boa_20_B8A is missing"
    ):
        MosaicLayers.from_parts(grids, str(folder), parts)
    with pytest.raises(
        ProcessingError, match=r"manifest\.part-007\.json: the manifest of part 007 is missing"
    ):
        MosaicLayers.from_parts(grids, str(folder), ["007"])
    with pytest.raises(ProcessingError, match=r"parts of aot_10 leave rows 120\.\.240 uncovered"):
        MosaicLayers.from_parts(grids, str(folder), ["000", "002"])
    with pytest.raises(ValueError, match="part name"):
        MosaicLayers.from_parts(grids, str(folder), ["../x"])


def test_parts_on_s3(scene, tmp_path: Path, aws_endpoint: str) -> None:
    l1c, all_layers = scene
    layers = dataclasses.replace(
        all_layers, boa={20: {"B11": all_layers.boa[20]["B11"]}}, aot550={}, wvp_cm={}
    )
    grids = dict(l1c.metadata.grids)
    boto3.client("s3", endpoint_url=aws_endpoint).create_bucket(Bucket="fan-out-parts")
    folder = "s3://fan-out-parts/tile/T29UNU"
    with EncodePool() as pool:
        parts = save_parts(layers, grids, folder, tmp_path, pool)
        with encode_by_windows(layers, grids, tmp_path, pool) as whole:
            mosaic = MosaicLayers.from_parts(grids, folder, parts)
            key = EncodedKey("boa", 20, "B11")
            mosaic.to_cog(key, tmp_path / "mosaic.tif")
            whole.to_cog(key, tmp_path / "whole.tif")
            np.testing.assert_array_equal(
                read(tmp_path / "mosaic.tif"), read(tmp_path / "whole.tif")
            )
            assert mosaic.negative_boa_percentage(20) == pytest.approx(
                whole.negative_boa_percentage(20)
            )


def test_footprint_without_scene_classification_comes_from_the_encoded_boa(
    scene, tmp_path: Path
) -> None:
    """With no SCL the item's footprint is the valid BOA; encoded DN 0 = NaN in memory."""
    l1c, all_layers = scene
    layers = dataclasses.replace(
        all_layers, scene_class={}, cloud_probability={}, snow_probability={}
    )
    common = {"l1c_href": "s3://input/l1c.SAFE", "generation_time": l1c.metadata.sensing_time}
    truth = write_cloud_product(l1c, layers, str(tmp_path / "memory"), **common)
    with (
        EncodePool() as pool,
        encode_by_windows(layers, l1c.metadata.grids, tmp_path, pool) as encoded,
    ):
        ours = write_cloud_product(
            l1c, only_encoded(layers, encoded), str(tmp_path / "encoded"), **common
        )
    assert ours.item.geometry == truth.item.geometry
    assert ours.item.bbox == truth.item.bbox
    # the synthetic no-data border (the western tenth of the columns) is left out
    grid = l1c.metadata.grids[60]
    tile = footprint(tile_outline(grid), grid.crs_epsg)
    bbox = ours.item.bbox
    assert bbox is not None and bbox[0] > tile.bbox[0]
    assert bbox[2] == pytest.approx(tile.bbox[2])
