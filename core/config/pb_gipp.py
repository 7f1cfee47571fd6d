"""``L2A_PB_GIPP.xml``: the processing baseline written into L2A product names and metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from core.config.binding import Facets


@dataclass(frozen=True, slots=True)
class IdpScList:
    """The processor name and version for one workflow."""

    workflow: Annotated[str, Facets(xml="attribute")]
    idp_sc_name: str
    idp_sc_version: str


@dataclass(frozen=True, slots=True)
class PbData:
    """``DATA``: processors and the baseline (``dd.dd``; Sen2Cor's user default 99.99)."""

    idp_sc_list: tuple[IdpScList, ...]
    baseline_version: Annotated[str, Facets(pattern=r"\d{2}\.\d{2}")]


@dataclass(frozen=True, slots=True)
class PbGipp:
    """The whole ``L2A_PB_GIPP.xml``."""

    ROOT: ClassVar[str] = "GS2_PROCESSING_BASELINE_PARAMETERS"

    data: PbData
