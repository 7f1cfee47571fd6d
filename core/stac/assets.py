"""The assets of a cloud-native L2A product: keys, file names, encodings and STAC fields.

Asset keys follow stactools-sentinel2 0.8 / Earth Search v1 (cloud anchors §2.3): a layer at its
main resolution has the plain key (``blue`` = B02 at 10 m, ``swir16`` = B11 at 20 m, ``aot``,
``wvp``, ``scl``, ``cloud``, ``snow`` at 20 m, ``visual`` at 10 m); the same layer at another
resolution is suffixed (``blue_20m``, ``scl_60m``, ``visual_60m``). Files are named like the
Earth Search COG buckets (``B02.tif``, ``AOT.tif``, ``SCL.tif``, ``TCI.tif``) with the same
resolution suffix (``B02_20m.tif``).

Encodings (uint16 / uint8, 0 = no-data everywhere): BOA ``DN = round((ρ + 0.1) · 10000)``, i.e.
scale 0.0001 and offset −0.1 (Sen2Cor's baseline ≥ 04.00 ``BOA_ADD_OFFSET`` −1000 with
quantification 10000, facts §5.3); AOT and WVP (cm) ×1000, scale 0.001; SCL codes; cloud and
snow probabilities in %; the TCI of :mod:`core.product.quicklook`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from core.bands import band as band_info
from core.io.cog import LayerKind
from core.product.l2a import L2ALayers
from core.product.l2a_quality import SceneClass
from core.product.l2a_rasters import (
    AOT_QUANTIFICATION_VALUE,
    BOA_QUANTIFICATION_VALUE,
    WVP_QUANTIFICATION_VALUE,
)
from core.product.quicklook import TCI_BANDS

Layer = Literal["boa", "aot", "wvp", "scl", "cloud", "snow", "visual"]

COG_MEDIA_TYPE: Final[str] = "image/tiff; application=geotiff; profile=cloud-optimized"
BOA_OFFSET: Final[float] = -0.1
"""Reflectance offset of every BOA asset (Sen2Cor ``BOA_ADD_OFFSET`` −1000 / 10000)."""
BOA_SCALE: Final[float] = 1.0 / BOA_QUANTIFICATION_VALUE
AOT_SCALE: Final[float] = 1.0 / AOT_QUANTIFICATION_VALUE
WVP_SCALE: Final[float] = 1.0 / WVP_QUANTIFICATION_VALUE
MAIN_RESOLUTION: Final[dict[Layer, int]] = {
    "aot": 20,
    "wvp": 20,
    "scl": 20,
    "cloud": 20,
    "snow": 20,
    "visual": 10,
}
"""Resolution whose asset has the plain key (stactools: ``aot``/``scl`` are 20 m, ``visual``
10 m); BOA bands use their native resolution."""
SCL_CLASSES: Final[dict[SceneClass, tuple[str, str]]] = {
    SceneClass.NO_DATA: ("no_data", "No Data (Missing data)"),
    SceneClass.SATURATED_DEFECTIVE: ("saturated_or_defective", "Saturated or defective pixel"),
    SceneClass.DARK_FEATURES: (
        "dark_area_pixels",
        "Topographic casted shadows (formerly 'Dark features/Shadows')",
    ),
    SceneClass.CLOUD_SHADOWS: ("cloud_shadows", "Cloud shadows"),
    SceneClass.VEGETATION: ("vegetation", "Vegetation"),
    SceneClass.NOT_VEGETATED: ("not_vegetated", "Not-vegetated"),
    SceneClass.WATER: ("water", "Water"),
    SceneClass.UNCLASSIFIED: ("unclassified", "Unclassified"),
    SceneClass.MEDIUM_PROBA_CLOUDS: ("cloud_medium_probability", "Cloud - medium probability"),
    SceneClass.HIGH_PROBA_CLOUDS: ("cloud_high_probability", "Cloud - high probability"),
    SceneClass.THIN_CIRRUS: ("thin_cirrus", "Thin cirrus"),
    SceneClass.SNOW_ICE: ("snow", "Snow or ice"),
}
"""``classification:classes`` of the SCL: stactools-sentinel2's names and descriptions (its
"Vegitation" typo corrected) for Sen2Cor's 12 classes (facts §2.1)."""

_LAYER_FILE: Final[dict[Layer, str]] = {
    "aot": "AOT",
    "wvp": "WVP",
    "scl": "SCL",
    "cloud": "CLD",
    "snow": "SNW",
    "visual": "TCI",
}
_TITLES: Final[dict[Layer, str]] = {
    "aot": "Aerosol optical thickness (AOT)",
    "wvp": "Water vapour (WVP)",
    "scl": "Scene classification map (SCL)",
    "cloud": "Cloud probabilities",
    "snow": "Snow probabilities",
    "visual": "True color image",
}
_ROLES: Final[dict[Layer, list[str]]] = {
    "boa": ["data", "reflectance"],
    "aot": ["data"],
    "wvp": ["data"],
    "scl": ["data"],
    "cloud": ["data", "cloud"],
    "snow": ["data", "snow-ice"],
    "visual": ["visual"],
}
_COG_KIND: Final[dict[Layer, LayerKind]] = {
    "boa": "reflectance",
    "aot": "continuous",
    "wvp": "continuous",
    "scl": "classification",
    "cloud": "continuous",
    "snow": "continuous",
    "visual": "reflectance",
}


@dataclass(frozen=True, slots=True)
class LayerAsset:
    """One raster asset of the product: a layer (a BOA ``band``) at one resolution."""

    layer: Layer
    resolution: int
    band: str | None = None
    """Sentinel-2 band name of a BOA asset (``B8A``)."""

    @property
    def main_resolution(self) -> int:
        """The resolution of the plain key of this layer."""
        if self.band is not None:
            return band_info(self.band).resolution
        return MAIN_RESOLUTION[self.layer]

    @property
    def key(self) -> str:
        """Asset key: ``blue``, ``blue_20m``, ``scl``, ``scl_60m``, ``visual_20m`` ..."""
        base = band_info(self.band).asset_key if self.band else self.layer
        return base if self.resolution == self.main_resolution else f"{base}_{self.resolution}m"

    @property
    def file_name(self) -> str:
        """COG file name: ``B02.tif``, ``B02_20m.tif``, ``SCL_60m.tif``, ``TCI.tif`` ..."""
        stem = self.band or _LAYER_FILE[self.layer]
        suffix = "" if self.resolution == self.main_resolution else f"_{self.resolution}m"
        return f"{stem}{suffix}.tif"

    @property
    def cog_kind(self) -> LayerKind:
        """Overview resampling class of the COG (AVERAGE, or MODE for the SCL)."""
        return _COG_KIND[self.layer]

    @property
    def scale_offset(self) -> tuple[float | None, float | None]:
        """Physical value = DN × scale + offset (``None``: the DN is the value)."""
        if self.layer == "boa":
            return BOA_SCALE, BOA_OFFSET
        if self.layer == "aot":
            return AOT_SCALE, 0.0
        if self.layer == "wvp":
            return WVP_SCALE, 0.0
        return None, None

    def stac_fields(self) -> dict[str, Any]:
        """Title, media type, roles, ``gsd`` (stactools: a band's only at its native
        resolution, where ground sampling and pixel size agree; other layers' always),
        ``eo:bands`` and ``raster:bands`` of this asset."""
        fields: dict[str, Any] = {
            "type": COG_MEDIA_TYPE,
            "roles": list(_ROLES[self.layer]),
        }
        if self.band is not None:
            info = band_info(self.band)
            fields["title"] = f"{info.common_name.capitalize()} ({info.name}) - {self.resolution}m"
            fields["eo:bands"] = [eo_band(self.band)]
        else:
            fields["title"] = _TITLES[self.layer]
        if self.layer == "visual":
            fields["eo:bands"] = [eo_band(b) for b in TCI_BANDS]
        if self.band is None or self.resolution == self.main_resolution:
            fields["gsd"] = self.resolution
        fields["raster:bands"] = [
            self._raster_band() for _ in range(3 if self.layer == "visual" else 1)
        ]
        return fields

    def _raster_band(self) -> dict[str, Any]:
        wide = self.layer in ("boa", "aot", "wvp")
        band: dict[str, Any] = {
            "data_type": "uint16" if wide else "uint8",
            "nodata": 0,
            "spatial_resolution": self.resolution,
        }
        scale, offset = self.scale_offset
        if scale is not None:
            band["scale"] = scale
            band["offset"] = offset
        if self.layer == "wvp":
            band["unit"] = "cm"
        if self.layer == "scl":
            band["classification:classes"] = [
                {"value": int(code), "name": name, "description": text}
                for code, (name, text) in SCL_CLASSES.items()
            ]
        return band


def eo_band(name: str) -> dict[str, Any]:
    """``eo:bands`` entry of a band: S2 name, common name, centre and FWHM in µm (Sen2Cor's
    ``L2A_CAL_AC_GIPP.xml`` values, :mod:`core.bands`)."""
    info = band_info(name)
    return {
        "name": info.name,
        "common_name": info.common_name,
        "center_wavelength": info.wavelength_um,
        "full_width_half_max": info.fwhm_um,
    }


def layer_assets(layers: L2ALayers) -> list[LayerAsset]:
    """Every raster asset ``layers`` hold (in memory or encoded), finest resolution first
    within each layer.

    The visual asset exists at each resolution holding a TCI (encoded, or BOA B04, B03, B02).
    """
    encoded = layers.encoded.keys() if layers.encoded else ()
    assets: list[LayerAsset] = []
    for res in layers.boa_resolutions():
        assets += [LayerAsset("boa", res, band) for band in layers.boa_bands(res)]
        if layers.has_visual(res):
            assets.append(LayerAsset("visual", res))
    maps: tuple[tuple[Layer, dict[int, np.ndarray]], ...] = (
        ("aot", layers.aot550),
        ("wvp", layers.wvp_cm),
        ("scl", layers.scene_class),
        ("cloud", layers.cloud_probability),
        ("snow", layers.snow_probability),
    )
    for layer, by_resolution in maps:
        held = {*by_resolution, *(k.resolution for k in encoded if k.layer == layer)}
        assets += [LayerAsset(layer, res) for res in sorted(held)]
    return assets
