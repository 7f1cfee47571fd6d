"""Scene classification on real pixels, judged against Sen2Cor's own products.

* ``l1c-real/T33UUU_20170216_crop``: real L1C pixels near Berlin (16 February 2017): the class
  fractions must fit the place and the season.
* ``l2a-real/...T29UNU...``: a real Sen2Cor 2.10 L2A of Ireland (5 October 2022). Its SCL and
  MSK_CLDPRB follow the cloud-probability rule we apply; its upper-left 36 km, run forward to
  TOA (BOA + AOT + WVP through the simulator's radiative transfer), are classified at 60 m and
  compared pixel by pixel with its SCL. Sen2Cor's SCL is independent of our classifier; the TOA
  is not a real L1C (clouds are the product's BOA over clouds, B10 is synthetic: cirrus is not
  judged there).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from core.cli.preview import (
    BandFolder,
    ForwardL2A,
    classify_band_folder,
    classify_forward_l2a,
    forward_l2a,
    read_band_folder,
    scl_preview,
)
from core.config.gipp import load_gipp
from core.product.l2a_quality import SceneClass
from core.scene_classification import steps

GIPP = load_gipp().sc
TH = GIPP.scene_classification.thresholds
REAL_L1C = "l1c-real/T33UUU_20170216_crop"
REAL_L2A = "l2a-real/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
CLOUDS = (SceneClass.MEDIUM_PROBA_CLOUDS, SceneClass.HIGH_PROBA_CLOUDS)


def _share(values: np.ndarray, classes: tuple[int, ...]) -> float:
    return float(np.isin(values, classes).mean())


@pytest.fixture(scope="module")
def berlin(shared_data: Path) -> BandFolder:
    """The real L1C crop at 20 m, read as the product reader reads bands."""
    return read_band_folder(shared_data / REAL_L1C)


@pytest.mark.parametrize("classic", [True, False])
def test_real_winter_pixels_give_plausible_fractions(berlin: BandFolder, classic: bool) -> None:
    """February near Berlin, snow-free: bare winter fields, pine forest, the Havel lakes (about a
    tenth of the crop in the true-colour image), haze and a few thin clouds, B10 far below
    T1_B10. The sun is 24 deg high (zenith 66 deg)."""
    assert berlin.sun_zenith_deg == pytest.approx(66.1, abs=0.5)
    scl = classify_band_folder(berlin, classic=classic)
    share = np.bincount(scl.ravel(), minlength=12) / scl.size
    print("classic" if classic else "default", np.round(share, 4))
    # DN 0 (no data, Sen2Cor's step 0) in one pixel of the lossily re-encoded crop
    assert share[SceneClass.NO_DATA] < 1e-4 and share[SceneClass.SATURATED_DEFECTIVE] == 0
    assert share[SceneClass.VEGETATION] + share[SceneClass.NOT_VEGETATED] > 0.3
    assert 0.05 < share[SceneClass.WATER] < 0.25
    assert share[SceneClass.MEDIUM_PROBA_CLOUDS] + share[SceneClass.HIGH_PROBA_CLOUDS] < 0.1
    assert share[SceneClass.SNOW_ICE] < 0.001
    assert share[SceneClass.THIN_CIRRUS] == 0
    if not classic:  # no DEM: no class 2; the haze Sen2Cor 2.9 leaves unclassified is land
        assert share[SceneClass.DARK_FEATURES] == 0
        assert share[SceneClass.VEGETATION] + share[SceneClass.NOT_VEGETATED] > 0.7
        assert share[SceneClass.VEGETATION] > 0.15  # forests stay green in winter
        assert share[SceneClass.UNCLASSIFIED] < 0.1


def test_scl_preview_writes_the_picture(shared_data: Path, tmp_path: Path) -> None:
    """``scl-preview``: true colour, default and classic SCL side by side in Sen2Cor's colours."""
    output = tmp_path / "scl.png"
    result = CliRunner().invoke(scl_preview, [str(shared_data / REAL_L1C), str(output)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("default: 0:0.0000")
    with rasterio.open(output) as src:
        picture = src.read()
    assert picture.shape == (3, 192, 3 * 384 + 2 * 8)
    water = picture[:, :, 384 + 8 : 2 * 384 + 8].reshape(3, -1).T
    assert (water == (0, 0, 255)).all(axis=1).mean() > 0.05  # WATER in #0000ff
    assert output.stat().st_size < 300_000


def test_real_l2a_probability_rule_matches_our_cloud_classes(shared_data: Path) -> None:
    """Sen2Cor's own SCL and MSK_CLDPRB: classes 7/8/9 follow the 20 %/80 % limits we apply."""
    granule = next((shared_data / REAL_L2A / "GRANULE").iterdir())
    with rasterio.open(next((granule / "IMG_DATA" / "R20m").glob("*_SCL_20m.jp2"))) as src:
        scl = src.read(1)
    with rasterio.open(granule / "QI_DATA" / "MSK_CLDPRB_20m.jp2") as src:
        cloud = src.read(1)
    assert (cloud[scl == SceneClass.HIGH_PROBA_CLOUDS] >= TH.t_cloud_hp * 100).all()
    assert (cloud[scl == SceneClass.UNCLASSIFIED] <= TH.t_cloud_mp * 100).all()
    candidates = np.isin(scl, (7, 8, 9))
    state = steps.initial_state(np.zeros(scl.shape, bool), np.zeros(scl.shape, bool), GIPP)
    ours = steps.cloud_classes(
        dataclasses.replace(state, cloud_probability=cloud.astype(np.float32) / 100), GIPP
    ).scene_class
    # the rest are class 8 pixels below 20 % (thick cirrus, B10 >= T2_B10) and rounding at 20 %
    assert np.mean(ours[candidates] == scl[candidates]) > 0.94


@pytest.fixture(scope="module")
def ireland(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> ForwardL2A:
    """The upper-left 36 km of the real T29UNU L2A run forward to TOA, at 60 m."""
    return forward_l2a(shared_data / REAL_L2A, cache_dir=tmp_path_factory.mktemp("sixs"))


def test_real_l2a_run_forward_agrees_with_sen2cor_scl(ireland: ForwardL2A) -> None:
    """Default mode against Sen2Cor 2.10's SCL of the same pixels (Ireland in October: the snow
    map rules snow out, as Sen2Cor found none). Measured: clouds 99.1 % flagged (7-9), thick
    clouds 100 % (8, 9), vegetation 99.1 %, water 70 % (60 m shore pixels), cloud shadow 33 %
    of Sen2Cor's (its geometric shadow mask is broad: 12 % of the window, ours 4.6 %), and
    0.4 % of our clear pixels are Sen2Cor clouds."""
    theirs = ireland.scene_class
    assert _share(theirs, CLOUDS) > 0.2 and _share(theirs, (3,)) > 0.05  # clouds and shadows
    ours = classify_forward_l2a(ireland, classic=False, snow=False)
    share = np.bincount(ours.ravel(), minlength=12) / ours.size
    print("default", np.round(share, 4))
    assert _share(ours[np.isin(theirs, CLOUDS)], (7, *CLOUDS)) >= 0.97
    assert _share(ours[theirs == SceneClass.HIGH_PROBA_CLOUDS], CLOUDS) >= 0.97
    assert _share(ours[theirs == SceneClass.VEGETATION], (SceneClass.VEGETATION,)) >= 0.95
    assert _share(ours[theirs == SceneClass.WATER], (SceneClass.WATER,)) >= 0.6
    assert _share(ours[theirs == SceneClass.CLOUD_SHADOWS], (SceneClass.CLOUD_SHADOWS,)) >= 0.25
    clear = np.isin(ours, (SceneClass.VEGETATION, SceneClass.NOT_VEGETATED, SceneClass.WATER))
    assert _share(theirs[clear], CLOUDS) <= 0.02
    # per-class fractions within 0.1 of Sen2Cor's, but the shadows (above) and cirrus (synthetic)
    their_share = np.bincount(theirs.ravel(), minlength=12) / theirs.size
    for code in (4, 5, 6, 7):
        assert share[code] == pytest.approx(their_share[code], abs=0.1), code
    cloudy = share[7:10].sum()
    assert cloudy == pytest.approx(their_share[8:10].sum(), abs=0.05)
