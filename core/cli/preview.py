"""``sen2cloud preview``: true-colour TOA pictures of L1C products; ``scl-preview``: the scene
classification of bare L1C band files beside their true colour.

The pictures in ``docs/images`` are made with::

    python -m core.cli.preview ../shared/data/l1c-real/T33UUU_20170216_crop \\
        docs/images/scl_T33UUU.png
    python -m core.cli.preview --no-snow ../shared/data/l2a-real/S2A_MSIL2A_20221005T115411_\\
N0400_R023_T29UNU_20221005T164454.SAFE docs/images/scl_T29UNU.png
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import click
import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling

from core.bands import BY_NAME
from core.cli.run import reported_errors
from core.config.gipp import load_gipp
from core.errors import InputError, MissingBandError
from core.io.raster import read_resampled
from core.product.l1c import open_l1c
from core.product.quicklook import scl_colour
from core.resample import block_mean
from core.scene_classification import ScAux, classify
from core.scene_classification.classify import CLASSIC_BANDS, OPTIONAL_BANDS
from core.scene_classification.morphology import downsample_scene_class
from core.simulate.forward import NodeGrid
from core.simulate.geometry import solar_position
from core.simulate.preview import rgb_image, side_by_side, write_png
from core.simulate.realforward import simulate_from_l2a

BAND_FILE: Final = re.compile(r"^T\d{2}[A-Z]{3}_(?P<time>\d{8}T\d{6})_(?P<band>B\d[\dA])\.jp2$")
"""IMG_DATA band file name of an L1C tile: ``T<tile>_<sensing time>_<band>.jp2``."""
L1C_QUANTIFICATION: Final[float] = 10000.0
"""QUANTIFICATION_VALUE of every L1C baseline (DN = reflectance x 10000)."""
SC_RESOLUTION: Final[int] = 20
"""Sen2Cor's scene-classification grid (m)."""
L2A_RESOLUTION: Final[int] = 60
"""Grid of an L2A run forward (:mod:`core.simulate.realforward`): its BOA, AOT, WVP are 60 m."""
L2A_WINDOW_PX: Final[int] = 3600
"""Upper-left window of an L2A run forward, in 10 m pixels (36 km: on T29UNU it holds clouds,
their shadows and cirrus)."""
L2A_NODES: Final = NodeGrid(aot=2, wv=3, elevation=1, view_zenith=1)
"""6S nodes of the forward run (flat ground, B09 not needed)."""


@click.command(name="preview")
@click.argument("output", type=click.Path(dir_okay=False))
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option(
    "--resolution",
    type=click.Choice(["10", "20", "60"]),
    default="60",
    show_default=True,
    help="Resolution at which B04/B03/B02 are read.",
)
@click.option("--debug", is_flag=True, help="Full tracebacks.")
def preview(output: str, inputs: tuple[str, ...], resolution: str, debug: bool) -> None:
    """Write a PNG with the true colour (B04/B03/B02 TOA) of each L1C INPUT, left to right.

    Use it to put a simulated scene beside a real product.
    """
    with reported_errors(debug):
        pictures = []
        for uri in inputs:
            product = open_l1c(uri)
            red, green, blue = (
                product.read_toa(band, int(resolution)).reflectance
                for band in ("B04", "B03", "B02")
            )
            pictures.append(rgb_image(red, green, blue))
        write_png(output, side_by_side(*pictures))
    click.echo(output)


@dataclass(frozen=True, slots=True)
class BandFolder:
    """L1C band files of one tile read as TOA reflectance on the classification grid."""

    toa: dict[str, np.ndarray]
    """Band name -> float32 TOA reflectance (0-1) at :data:`SC_RESOLUTION`."""
    nodata: np.ndarray
    """bool: a pixel some band has no data for (DN 0, Sen2Cor's step 0)."""
    sensing_time: datetime
    sun_zenith_deg: float
    """Sun zenith and azimuth at the centre of the files' extent (NOAA's algorithm)."""
    sun_azimuth_deg: float


def read_band_folder(
    folder: str | Path, bands: tuple[str, ...] = CLASSIC_BANDS + OPTIONAL_BANDS
) -> BandFolder:
    """Read the L1C band files of ``folder`` (names as in IMG_DATA, no metadata) at 20 m.

    TOA reflectance is DN / :data:`L1C_QUANTIFICATION` (baselines before 04.00: no offset).
    Bands go to the 20 m grid as Sen2Cor imports them (facts §1.3, as the product reader:
    block mean from 10 m, bilinear from 60 m for B09 and B10). The sun angles come from the
    sensing time in the file names at the centre of the extent: bare band files carry no
    MTD_TL angle grid.

    Raises
    ------
    MissingBandError
        A band of ``bands`` has no file.
    InputError
        Files of several sensing times.
    """
    files = {
        match["band"]: (path, match["time"])
        for path in sorted(Path(folder).glob("*.jp2"))
        if (match := BAND_FILE.match(path.name))
    }
    missing = [band for band in bands if band not in files]
    if missing:
        raise MissingBandError(f"no band files for {missing}", path=str(folder))
    times = {files[band][1] for band in bands}
    if len(times) != 1:
        raise InputError(f"band files of several sensing times {sorted(times)}", path=str(folder))
    toa, empty = {}, []
    for band in bands:
        uri = str(files[band][0])
        upsampling = Resampling.bilinear if band in ("B09", "B10") else Resampling.cubic
        dn, native = read_resampled(
            uri, native_resolution=BY_NAME[band].resolution, resolution=SC_RESOLUTION,
            window=None, upsampling=upsampling, band=band,
        )  # fmt: skip
        toa[band] = dn / np.float32(L1C_QUANTIFICATION)
        empty.append(native[0] == 0)
    with rasterio.open(files[bands[0]][0]) as src:
        bounds, crs = src.bounds, src.crs
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        (bounds.left + bounds.right) / 2, (bounds.top + bounds.bottom) / 2
    )
    moment = datetime.strptime(times.pop(), "%Y%m%dT%H%M%S")
    zenith, azimuth = solar_position(moment, np.array(lat), np.array(lon))
    return BandFolder(toa, np.logical_or.reduce(empty), moment, float(zenith), float(azimuth))


def classify_band_folder(scene: BandFolder, *, classic: bool, snow: bool = True) -> np.ndarray:
    """SCL (uint8, 20 m) of :func:`read_band_folder`'s bands with the default GIPP, no DEM;
    ``snow`` False: the snow map rules snow out (no snow tests)."""
    return _classify(scene, SC_RESOLUTION, classic=classic, snow=snow, nodata=scene.nodata)


@dataclass(frozen=True, slots=True)
class ForwardL2A:
    """A real L2A product run forward to TOA on its 60 m grid, with Sen2Cor's SCL."""

    toa: dict[str, np.ndarray]
    """Band name -> float32 TOA reflectance (0-1) at :data:`L2A_RESOLUTION`."""
    scene_class: np.ndarray
    """Sen2Cor's SCL of the window (60 m)."""
    sun_zenith_deg: float
    """Tile-mean sun zenith and azimuth of MTD_TL.xml."""
    sun_azimuth_deg: float


def forward_l2a(
    safe: str | Path, size: int = L2A_WINDOW_PX, cache_dir: Path | None = None
) -> ForwardL2A:
    """The upper-left ``size`` 10 m pixels of a real L2A SAFE run forward to TOA
    (:func:`core.simulate.realforward.simulate_from_l2a`), block-averaged to 60 m."""
    scene = simulate_from_l2a(
        safe, size=size, bands=CLASSIC_BANDS, nodes=L2A_NODES, cache_dir=cache_dir
    )
    toa = {
        band: block_mean(values, L2A_RESOLUTION // BY_NAME[band].resolution)
        for band, values in scene.toa_reflectance.items()
    }
    step = L2A_RESOLUTION // 10
    sun = scene.geometry.sun_angles
    return ForwardL2A(
        toa, scene.scene_class[::step, ::step], float(np.nanmean(sun.zenith)),
        float(np.nanmean(sun.azimuth)),
    )  # fmt: skip


def classify_forward_l2a(scene: ForwardL2A, *, classic: bool, snow: bool) -> np.ndarray:
    """SCL (uint8, 60 m) of :func:`forward_l2a`'s bands with the default GIPP; ``snow``
    False: the snow map rules snow out (no snow tests)."""
    return _classify(scene, L2A_RESOLUTION, classic=classic, snow=snow)


def _classify(
    scene: BandFolder | ForwardL2A,
    resolution: int,
    *,
    classic: bool,
    snow: bool,
    nodata: np.ndarray | None = None,
) -> np.ndarray:
    """SCL of ``scene``'s TOA with the default GIPP and no DEM; ``snow`` False: the snow map
    rules snow out."""
    return classify(
        scene.toa, sun_zenith_deg=scene.sun_zenith_deg, sun_azimuth_deg=scene.sun_azimuth_deg,
        gipp=load_gipp().sc, resolution=resolution, classic=classic, nodata=nodata,
        aux=ScAux(snow_possible=None if snow else False),
    ).scene_class  # fmt: skip


def _shares(name: str, scl: np.ndarray) -> str:
    shares = np.bincount(scl.ravel(), minlength=12) / scl.size
    return f"{name}: " + " ".join(f"{code}:{share:.4f}" for code, share in enumerate(shares))


def _picture(scl: np.ndarray, factor: int) -> np.ndarray:
    return np.moveaxis(scl_colour(downsample_scene_class(scl, factor)), 0, -1)


@click.command(name="scl-preview")
@click.argument("source", type=click.Path(file_okay=False, exists=True))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option(
    "--factor",
    type=click.IntRange(1, 10),
    default=2,
    show_default=True,
    help="Picture pixel in classification pixels (SCL: median then nearest, as Sen2Cor's 60 m).",
)
@click.option("--no-snow", is_flag=True, help="The snow map rules snow out: no snow tests.")
@click.option("--debug", is_flag=True, help="Full tracebacks.")
def scl_preview(source: str, output: str, factor: int, no_snow: bool, debug: bool) -> None:
    """Classify SOURCE and write OUTPUT (PNG) in Sen2Cor's SCL colours, left to right.

    SOURCE is a folder of L1C band files (classified at 20 m; picture: true colour, default
    SCL, --sc_classic SCL) or a real L2A SAFE, whose upper-left 36 km are run forward to TOA
    and classified at 60 m (picture: true colour, default SCL, Sen2Cor's SCL). Prints the share
    of each SCL class. No DEM nor ESA CCI maps are used.
    """
    with reported_errors(debug):
        snow = not no_snow
        if (Path(source) / "MTD_MSIL2A.xml").is_file():
            forward = forward_l2a(source)
            toa, theirs = forward.toa, forward.scene_class
            ours = {
                classic: classify_forward_l2a(forward, classic=classic, snow=snow)
                for classic in (False, True)
            }
        else:
            scene = read_band_folder(source)
            toa, theirs = scene.toa, None
            ours = {
                classic: classify_band_folder(scene, classic=classic, snow=snow)
                for classic in (False, True)
            }
        red, green, blue = (block_mean(toa[band], factor) for band in ("B04", "B03", "B02"))
        pictures = [rgb_image(red, green, blue), _picture(ours[False], factor)]
        pictures.append(_picture(ours[True] if theirs is None else theirs, factor))
        for name, scl in (("default", ours[False]), ("classic", ours[True]), ("sen2cor", theirs)):
            if scl is not None:
                click.echo(_shares(name, scl))
        write_png(output, side_by_side(*pictures))
    click.echo(output)
