"""``core.pipeline``: Sen2Cor resolution rules, refusals made before any I/O, ``--sc_only``, the
default mode (classification + atmospheric correction) against simulated truth."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.errors import InputError, NotAvailableError
from core.pipeline import output_resolutions, process_product
from core.product.l2a_quality import SceneClass
from core.product.l2a_rasters import BOA_BANDS
from core.product.masks import QUALIT_LAYERS
from core.scene_classification.morphology import downsample_scene_class
from core.simulate.forward import NodeGrid, simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.scene import SceneSpec


@pytest.mark.parametrize(
    ("resolution", "downsample", "expected"),
    [
        (None, True, (10, 20, 60)),  # 20 m, 10 m, and 60 m by downsampling the 20 m results
        (None, False, (10, 20)),
        (10, True, (10, 20, 60)),  # 10 m needs the 20 m run first
        (20, True, (20, 60)),
        (20, False, (20,)),
        (60, True, (60,)),  # native 60 m, no downsampling
        (60, False, (60,)),
    ],
)
def test_output_resolutions_follow_sen2cor(
    resolution: int | None, downsample: bool, expected: tuple[int, ...]
) -> None:
    assert output_resolutions(resolution, downsample) == expected


def test_pdgs_modes_are_refused_before_reading(tmp_path: Path) -> None:
    options = ProcessingOptions(
        mode="process_tile",
        datastrip=str(tmp_path / "DS"),
        tile=str(tmp_path / "TL"),
        work_dir=str(tmp_path / "work"),
        output_dir=str(tmp_path / "out"),
    )
    with pytest.raises(NotAvailableError, match="process_tile"):
        process_product("", options, load_gipp())
    assert list(tmp_path.iterdir()) == []


def test_remote_input_needs_an_output_folder() -> None:
    uri = "s3://bucket/S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
    steps: list[tuple[float, str]] = []
    with pytest.raises(InputError, match="output folder is required") as caught:
        process_product(
            uri,
            ProcessingOptions(input_dir=uri, cr_only=True),
            load_gipp(),
            lambda fraction, step: steps.append((fraction, step)),
        )
    assert caught.value.path == uri
    assert steps == []  # refused before anything was read


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE")
    with pytest.raises(InputError) as caught:
        process_product(missing, ProcessingOptions(input_dir=missing), load_gipp())
    assert caught.value.path == missing
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fields", "option"),
    [
        ({"resolution": 30}, "--resolution"),
        ({"mode": "fast"}, "--mode"),
        ({"processing_centre": "sgs_"}, "--processing_centre"),
        ({"processing_baseline": "5.11"}, "--processing_baseline"),
        ({}, "--mode"),  # TOOLBOX without input_dir
    ],
)
def test_processing_options_refuse_bad_values(fields: dict[str, object], option: str) -> None:
    with pytest.raises(InputError) as caught:
        ProcessingOptions(**fields)  # type: ignore[arg-type]
    assert caught.value.path == option


# --- scene classification only (--sc_only) on a simulated product --------------------------------

SC_SIZE = 366
"""10 m pixels of the simulated tile (183 px at 20 m, 61 at 60 m)."""


@pytest.fixture(scope="module")
def simulated_safe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small simulated L1C SAFE (eastern swath edge inside, so it has no-data) with truth/."""
    spec = SceneSpec(size=SC_SIZE, seed=5, swath_edge=True, cloud_fraction=0.25)
    scene = simulate_scene(
        spec,
        simulate_geometry(spec),
        nodes=NodeGrid(1, 1, 1, 1),
        cache_dir=tmp_path_factory.mktemp("sixs"),
    )
    return Path(write_l1c_safe(scene, str(tmp_path_factory.mktemp("l1c"))))


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


def _one(folder: Path, pattern: str) -> Path:
    (found,) = folder.rglob(pattern)
    return found


def test_sc_only_writes_scl_and_probabilities(simulated_safe: Path, tmp_path: Path) -> None:
    steps: list[tuple[float, str]] = []
    gipp = load_gipp()
    product = Path(
        process_product(
            str(simulated_safe),
            ProcessingOptions(
                input_dir=str(simulated_safe), sc_only=True, sc_classic=True,
                output_dir=str(tmp_path),
            ),
            gipp,
            lambda fraction, step: steps.append((fraction, step)),
        )
    )  # fmt: skip
    scl20 = _read(_one(product, "*_SCL_20m.jp2"))
    scl60 = _read(_one(product, "*_SCL_60m.jp2"))
    cloud20 = _read(_one(product, "MSK_CLDPRB_20m.jp2"))
    assert _read(_one(product, "MSK_SNWPRB_60m.jp2")).shape == scl60.shape
    assert not list(product.rglob("*_SCL_10m*"))  # Sen2Cor: no SCL in R10m
    truth = _read(simulated_safe.parent / "truth" / "CLASS_20m.tif")
    # no-data of the swath edge: class 0 where the truth is outside the footprint
    assert np.mean((scl20 == SceneClass.NO_DATA) == (truth == SceneClass.NO_DATA)) > 0.99
    thick = truth == SceneClass.HIGH_PROBA_CLOUDS
    assert thick.any() and np.isin(scl20[thick], (8, 9)).mean() > 0.95
    # 60 m: Sen2Cor's 3x3 median then nearest of the 20 m SCL
    np.testing.assert_array_equal(scl60, downsample_scene_class(scl20, 3))
    # cloud probability consistent with the classes written
    hp = gipp.sc.scene_classification.thresholds.t_cloud_hp
    assert (cloud20[scl20 == SceneClass.HIGH_PROBA_CLOUDS] >= hp * 100).all()
    # Image_Content_QI of MTD_MSIL2A.xml from the SCL written (medium + high + cirrus)
    valid = scl20 != SceneClass.NO_DATA
    cloudy = 100 * np.isin(scl20[valid], (8, 9, 10)).mean()
    root = ET.parse(product / "MTD_MSIL2A.xml").getroot()
    written = next(e for e in root.iter() if e.tag.endswith("Cloud_Coverage_Assessment"))
    assert float(written.text or "nan") == pytest.approx(cloudy, abs=0.01)
    assert steps[-1] == (1.0, "done")


def test_sc_only_at_10m_classifies_at_20m(simulated_safe: Path, tmp_path: Path) -> None:
    product = Path(
        process_product(
            str(simulated_safe),
            ProcessingOptions(
                input_dir=str(simulated_safe), sc_only=True, resolution=10,
                output_dir=str(tmp_path),
            ),
            load_gipp(),
        )
    )  # fmt: skip
    assert _read(_one(product, "*_SCL_20m.jp2")).shape == (SC_SIZE // 2, SC_SIZE // 2)


# --- the default mode (scene classification + atmospheric correction) on a flat scene ------------

AC_SIZE = 600
"""10 m pixels of the flat simulated tile (300 px at 20 m, 100 at 60 m)."""
BOA_RMSE_RETRIEVED = 0.005
"""Issue #4's target for clear-sky land BOA with AOT and water vapour retrieved by the processor,
asserted on clear land more than :data:`CLOUD_MARGIN_PX` from any cloud or cloud shadow of the
truth (measured B02 0.0032, B04 0.0023, B8A 0.0030)."""
BOA_RMSE_NEAR_CLOUDS = {
    "B02": 0.045, "B03": 0.023, "B04": 0.010, "B05": 0.011, "B06": 0.015,
    "B07": 0.017, "B8A": 0.019, "B11": 0.010, "B12": 0.015,
}  # fmt: skip
"""RMSE allowed over all clear land of the truth (measured 0.039, 0.020, 0.009, 0.010, 0.013,
0.015, 0.017, 0.009, 0.013): NOT the target. Clear pixels next to clouds carry thin cloud edges
the classification does not flag (the truth's 20 m classes are a 2x2 majority) and are 0.057
off in B02 within 300 m of a cloud."""
CLOUD_MARGIN_PX = 15
"""300 m at 20 m."""
AOT_MEAN_ERROR_RETRIEVED = 0.03
"""Allowed |mean AOT550 error| on this tile (measured 0.016: 0.180 vs 0.163; 78 % of the clear
pixels within the issue's 0.03 + 10 %)."""


@pytest.fixture(scope="module")
def flat_product(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A flat simulated L1C (sea level, few clouds) corrected in the default mode: (L1C, L2A)."""
    spec = SceneSpec(size=AC_SIZE, seed=21, max_elevation_m=0.0, cloud_fraction=0.08)
    scene = simulate_scene(spec, simulate_geometry(spec))
    safe = Path(write_l1c_safe(scene, str(tmp_path_factory.mktemp("l1c"))))
    gipp = load_gipp(overrides={"l2a.atmospheric_correction.calibration.altitude": 0.0})
    out = tmp_path_factory.mktemp("l2a")
    options = ProcessingOptions(input_dir=str(safe), output_dir=str(out))
    return safe, Path(process_product(str(safe), options, gipp))


def _boa(path: Path) -> np.ndarray:
    """Surface reflectance of an L2A band file (baseline >= 04.00: offset -1000, x 10000)."""
    return (_read(path).astype(np.float64) - 1000.0) / 10000.0


def test_default_mode_writes_every_layer_at_every_resolution(
    flat_product: tuple[Path, Path],
) -> None:
    _, product = flat_product
    for res, bands in BOA_BANDS.items():
        for band in bands:
            assert _read(_one(product, f"*_{band}_{res}m.jp2")).shape == (AC_SIZE * 10 // res,) * 2
        for layer in ("AOT", "WVP"):
            _one(product, f"*_{layer}_{res}m.jp2")


def test_default_mode_boa_matches_the_simulated_truth(flat_product: tuple[Path, Path]) -> None:
    safe, product = flat_product
    truth = safe.parent / "truth"
    classes = _read(truth / "CLASS_20m.tif")
    clear = np.isin(classes, (4, 5))
    cloudy = ndimage.binary_dilation(np.isin(classes, (3, 8, 9, 10)), iterations=CLOUD_MARGIN_PX)
    far = clear & ~cloudy
    assert far.mean() > 0.3
    for band, allowed in BOA_RMSE_NEAR_CLOUDS.items():
        error = _boa(_one(product, f"*_{band}_20m.jp2")) - _read(truth / f"BOA_{band}_20m.tif")
        assert np.sqrt(np.mean(error[far] ** 2)) < BOA_RMSE_RETRIEVED, band
        assert np.sqrt(np.mean(error[clear] ** 2)) < allowed, band
    # 10 m bands are corrected at 10 m with the 20 m atmosphere: their 2x2 means agree
    fine = _boa(_one(product, "*_B04_10m.jp2")).reshape(AC_SIZE // 2, 2, AC_SIZE // 2, 2)
    coarse = _boa(_one(product, "*_B04_20m.jp2"))
    assert np.abs(fine.mean(axis=(1, 3)) - coarse)[clear].mean() < 0.002


def test_default_mode_reports_the_atmosphere_it_retrieved(
    flat_product: tuple[Path, Path],
) -> None:
    safe, product = flat_product
    truth = safe.parent / "truth"
    aot = _read(_one(product, "*_AOT_20m.jp2")) / 1000.0
    wv = _read(_one(product, "*_WVP_20m.jp2")) / 1000.0
    assert abs(aot.mean() - _read(truth / "AOT_20m.tif").mean()) < AOT_MEAN_ERROR_RETRIEVED
    assert abs(wv.mean() - _read(truth / "WV_20m.tif").mean()) < 0.2
    root = ET.parse(product / "MTD_MSIL2A.xml").getroot()
    values = {e.tag.rsplit("}", 1)[-1]: e.text for e in root.iter()}
    assert values["AOT_RETRIEVAL_METHOD"] in {"SEN2COR_DDV", "CAMS", "DEFAULT"}
    assert float(values["GRANULE_MEAN_AOT"] or "nan") == pytest.approx(aot.mean(), abs=0.002)


def _flag_defective(safe: Path, band: str, rows: slice, cols: slice) -> None:
    """Set QT_DEFECTIVE_PIXELS of ``band``'s MSK_QUALIT on a block (lossless JPEG 2000)."""
    path = _one(safe, f"MSK_QUALIT_{band}.jp2")
    with rasterio.open(path) as src:
        layers, profile = src.read(), src.profile
    layers[QUALIT_LAYERS.index("QT_DEFECTIVE_PIXELS"), rows, cols] = 1
    with rasterio.open(path, "w", **profile, QUALITY=100, REVERSIBLE="YES") as dst:
        dst.write(layers)


@pytest.mark.parametrize("handle", [True, False])
def test_handle_l1c_qlt_mask_makes_defective_pixels_class_1(
    simulated_safe: Path, tmp_path: Path, handle: bool
) -> None:
    safe = Path(shutil.copytree(simulated_safe, tmp_path / "in" / simulated_safe.name))
    _flag_defective(safe, "B11", slice(20, 40), slice(10, 30))  # native 20 m pixels
    gipp = load_gipp(overrides={"l2a.common_section.handle_l1c_qlt_mask": handle})
    product = Path(
        process_product(
            str(safe),
            ProcessingOptions(input_dir=str(safe), sc_only=True, output_dir=str(tmp_path)),
            gipp,
        )
    )
    defective = _read(_one(product, "*_SCL_20m.jp2")) == SceneClass.SATURATED_DEFECTIVE
    block = np.zeros_like(defective)
    block[20:40, 10:30] = True
    np.testing.assert_array_equal(defective, block if handle else np.zeros_like(block))
