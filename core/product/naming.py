"""Names of an L1C or L2A product, its granule, datastrip and image files (Sen2Cor 2.10+).

The patterns are those of real baseline-04.00 products and of Sen2Cor's ``L2A_Product`` naming
(facts §5.2):

* product   ``S2A_MSIL2A_<datatake start>_N<bbbb>_R<relorbit>_T<tile>_<generation>.SAFE``
* granule   ``L2A_T<tile>_A<absolute orbit>_<datastrip sensing start>``
* datastrip ``DS_<centre>_<generation>_S<datastrip sensing start>``
* images    ``T<tile>_<datatake start>_<layer>_<res>m`` (+ extension)
* long ids  ``S2A_OPER_MSI_L2A_TL_<centre>_<generation>_A<orbit>_T<tile>_N<bb.bb>`` and
  ``S2A_OPER_MSI_L2A_DS_<centre>_<generation>_S<sensing>_N<bb.bb>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from core.errors import InputError
from core.product.metadata import L1CMetadata, ProcessingBaseline

COMPACT_TIME: Final[str] = "%Y%m%dT%H%M%S"

_COMPACT_NAME_RE: Final = re.compile(
    r"^(?P<mission>S2[A-D])_MSI(?P<level>L1C|L2A)_(?P<datatake>\d{8}T\d{6})_N(?P<baseline>\d{4})"
    r"_R(?P<orbit>\d{3})_T(?P<tile>\d{2}[A-Z]{3})_(?P<generation>\d{8}T\d{6})(?:\.SAFE)?$"
)
_LONG_ID_RE: Final = re.compile(
    r"^(?P<mission>S2[A-D_])_(?P<file_class>[A-Z0-9_]{4})_MSI_(?P<level>L1C|L2A)_(?P<kind>TL|DS)_"
    r"(?P<centre>[A-Z0-9_]{4})_(?P<creation>\d{8}T\d{6})_(?P<rest>.+)_N\d{2}\.\d{2}$"
)
_SENSING_RE: Final = re.compile(r"_S(\d{8}T\d{6})")
_CENTRE_RE: Final = re.compile(r"^[A-Z_]{4}$")


def check_centre(centre: str, role: str) -> str:
    """Return ``centre`` if it is a 4-character centre code (``^[A-Z_]{4}$``), else raise
    :class:`InputError` naming the ``role`` (``processing centre``, ``archiving centre``)."""
    if not _CENTRE_RE.match(centre):
        raise InputError(f"{role} {centre!r} must match ^[A-Z_]{{4}}$")
    return centre


def compact_time(moment: datetime) -> str:
    """``2022-10-05T11:54:11.024Z`` -> ``20221005T115411`` (UTC, seconds truncated)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime(COMPACT_TIME)


@dataclass(frozen=True, slots=True)
class CompactProductName:
    """The fields of a compact SAFE product name (``S2A_MSIL1C_..._T29UNU_....SAFE``)."""

    mission_id: str
    level: str
    datatake_start: str
    processing_baseline: ProcessingBaseline
    relative_orbit: int
    tile_id: str
    generation_time: str

    @classmethod
    def parse(cls, name: str) -> CompactProductName:
        """Parse a compact product name; raise :class:`InputError` naming it when it is not one."""
        match = _COMPACT_NAME_RE.match(name.rstrip("/").rsplit("/", 1)[-1])
        if match is None:
            raise InputError(
                "not a compact Sentinel-2 product name (S2x_MSIL1C|L2A_..._T<tile>_<time>.SAFE)",
                path=name,
            )
        return cls(
            mission_id=match["mission"],
            level=match["level"],
            datatake_start=match["datatake"],
            processing_baseline=ProcessingBaseline.parse(match["baseline"]),
            relative_orbit=int(match["orbit"]),
            tile_id=match["tile"],
            generation_time=match["generation"],
        )


@dataclass(frozen=True, slots=True)
class ProductNames:
    """Every name of one L1C or L2A product (facts §5.2): both levels share the patterns."""

    level: Literal["L1C", "L2A"]
    mission_id: str
    tile_id: str
    datatake_start: str
    datastrip_sensing: str
    absolute_orbit: int
    relative_orbit: int
    generation: str
    baseline: ProcessingBaseline
    centre: str

    @classmethod
    def l2a_from_l1c(
        cls,
        l1c: L1CMetadata,
        *,
        generation_time: datetime,
        baseline: ProcessingBaseline,
        centre: str | None = None,
    ) -> ProductNames:
        """Derive the L2A names.

        ``centre`` is the 4-character processing centre (``--processing_centre``); when absent
        the centre of the L1C datastrip identifier is kept, as Sen2Cor does in TOOLBOX mode.
        """
        if centre is not None:
            check_centre(centre, "processing centre")
        sensing = _SENSING_RE.search(l1c.datastrip_id)
        if sensing is None:
            raise InputError(
                f"datastrip identifier {l1c.datastrip_id!r} has no _S<sensing time> field",
                path=l1c.product_uri,
            )
        if centre is None:
            long_id = _LONG_ID_RE.match(l1c.datastrip_id)
            centre = long_id["centre"] if long_id else "SC__"
        return cls(
            level="L2A",
            mission_id=l1c.mission_id,
            tile_id=l1c.tile_id.removeprefix("T"),
            datatake_start=compact_time(l1c.datatake_sensing_start),
            datastrip_sensing=sensing.group(1),
            absolute_orbit=l1c.absolute_orbit,
            relative_orbit=l1c.relative_orbit,
            generation=compact_time(generation_time),
            baseline=baseline,
            centre=centre,
        )

    @property
    def product(self) -> str:
        """``S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE``."""
        return (
            f"{self.mission_id}_MSI{self.level}_{self.datatake_start}_{self.baseline.n_code}"
            f"_R{self.relative_orbit:03d}_T{self.tile_id}_{self.generation}.SAFE"
        )

    @property
    def granule(self) -> str:
        """``L2A_T29UNU_A038058_20221005T115407``."""
        return self._granule(self.level)

    @property
    def l1c_granule(self) -> str:
        """The L1C granule folder, ``L1C_T29UNU_A038058_20221005T115407``."""
        return self._granule("L1C")

    def _granule(self, level: str) -> str:
        return f"{level}_T{self.tile_id}_A{self.absolute_orbit:06d}_{self.datastrip_sensing}"

    @property
    def datastrip(self) -> str:
        """``DS_ATOS_20221005T164454_S20221005T115407``."""
        return f"DS_{self.centre}_{self.generation}_S{self.datastrip_sensing}"

    @property
    def tile_long_id(self) -> str:
        """``S2A_OPER_MSI_L2A_TL_ATOS_20221005T164454_A038058_T29UNU_N04.00``."""
        return (
            f"{self.mission_id}_OPER_MSI_{self.level}_TL_{self.centre}_{self.generation}"
            f"_A{self.absolute_orbit:06d}_T{self.tile_id}_N{self.baseline}"
        )

    @property
    def datastrip_long_id(self) -> str:
        """``S2A_OPER_MSI_L2A_DS_ATOS_20221005T164454_S20221005T115407_N04.00``."""
        return (
            f"{self.mission_id}_OPER_MSI_{self.level}_DS_{self.centre}_{self.generation}"
            f"_S{self.datastrip_sensing}_N{self.baseline}"
        )

    @property
    def datatake_id(self) -> str:
        """``GS2A_20221005T115411_038058_N04.00`` (``datatakeIdentifier``)."""
        return (
            f"G{self.mission_id}_{self.datatake_start}_{self.absolute_orbit:06d}_N{self.baseline}"
        )

    def image_stem(self, layer: str, resolution: int | None = None) -> str:
        """``T29UNU_20221005T115411_B02_10m`` (``IMAGE_FILE`` form, no extension); L1C images
        carry no resolution: ``T29UNU_20221005T115411_B02``."""
        suffix = "" if resolution is None else f"_{resolution}m"
        return f"T{self.tile_id}_{self.datatake_start}_{layer}{suffix}"

    @property
    def pvi_stem(self) -> str:
        """``T29UNU_20221005T115411_PVI``."""
        return self.image_stem("PVI")

    def datatake_identifier(self, l1c_identifier: str) -> str:
        """Rewrite the ``_Nxx.xx`` suffix of a datatake identifier to this product's baseline."""
        return re.sub(r"_N\d{2}\.\d{2}$", f"_N{self.baseline}", l1c_identifier)
