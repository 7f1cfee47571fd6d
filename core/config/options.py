"""Run options of one L2A processing: one field per ``L2A_Process`` flag (Sen2Cor 2.12 meaning).

Options are what the caller asks for (mode, resolution, output folders, switches); thresholds
and defaults of the science live in the GIPP files (:mod:`core.config.gipp`). The PDGS modes need
the options Sen2Cor requires for them; checking happens here so that the command line and the
Lambda handlers refuse the same requests with the same message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from core.errors import InputError

Mode = Literal["TOOLBOX", "generate_datastrip", "process_tile"]
MODES: Final[tuple[Mode, ...]] = ("TOOLBOX", "generate_datastrip", "process_tile")
RESOLUTIONS: Final[tuple[int, ...]] = (10, 20, 60)

CENTRE_PATTERN: Final[str] = r"[A-Z_]{4}"
"""Processing / archiving centre code (Sen2Cor: ``^[A-Z_]{4}$``)."""
BASELINE_PATTERN: Final[str] = r"\d{2}\.\d{2}"
"""Processing baseline ``dd.dd``."""

REQUIRED_BY_MODE: Final[dict[Mode, tuple[str, ...]]] = {
    "TOOLBOX": ("input_dir",),
    "generate_datastrip": (
        "datastrip",
        "processing_centre",
        "archiving_centre",
        "work_dir",
        "output_dir",
    ),
    "process_tile": ("datastrip", "tile", "work_dir", "output_dir"),
}
"""Options each mode cannot run without (Sen2Cor 2.8 ``L2A_Process.parseCommandLine``)."""


@dataclass(frozen=True, slots=True)
class ProcessingOptions:
    """The ``L2A_Process`` command line as a value (``None`` / ``False`` = option not given).

    Raises
    ------
    InputError
        A value is malformed (centre code, baseline, mode, resolution), a mode lacks an option it
        requires, or two switches exclude each other; the message names the option.
    """

    input_dir: str | None = None
    """The L1C product (``.SAFE`` folder, zip, ``s3://`` prefix); TOOLBOX mode only."""
    mode: Mode = "TOOLBOX"
    resolution: int | None = None
    """10, 20 or 60 m; ``None`` = 20 m then 10 m (and 60 m if GIPP Downsample_20_to_60)."""
    datastrip: str | None = None
    tile: str | None = None
    output_dir: str | None = None
    """Default: the folder holding the input product."""
    work_dir: str | None = None
    img_database_dir: str | None = None
    res_database_dir: str | None = None
    processing_centre: str | None = None
    archiving_centre: str | None = None
    processing_baseline: str | None = None
    """``dd.dd``; overrides ``Baseline_Version`` of L2A_PB_GIPP."""
    raw: bool = False
    tif: bool = False
    sc_only: bool = False
    sc_classic: bool = False
    sc_cog: bool = False
    cr_only: bool = False
    debug: bool = False
    gip_l2a: str | None = None
    gip_l2a_sc: str | None = None
    gip_l2a_ac: str | None = None
    gip_l2a_pb: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"must be one of {', '.join(MODES)}", path="--mode")
        if self.resolution is not None and self.resolution not in RESOLUTIONS:
            raise InputError("must be 10, 20 or 60", path="--resolution")
        for name in ("processing_centre", "archiving_centre"):
            value = getattr(self, name)
            if value is not None and not re.fullmatch(CENTRE_PATTERN, value):
                raise InputError(f"{value!r} is not 4 characters A-Z or _", path=f"--{name}")
        baseline = self.processing_baseline
        if baseline is not None and not re.fullmatch(BASELINE_PATTERN, baseline):
            raise InputError(f"{baseline!r} is not of the form dd.dd", path="--processing_baseline")
        if self.raw and self.tif:
            raise InputError("--raw and --tif exclude each other", path="--tif")
        if self.sc_only and self.cr_only:
            raise InputError("--sc_only and --cr_only exclude each other", path="--cr_only")
        missing = [_flag(n) for n in REQUIRED_BY_MODE[self.mode] if not getattr(self, n)]
        if missing:
            raise InputError(f"mode {self.mode} requires {', '.join(missing)}", path="--mode")

    def gipp_overrides(self) -> dict[str, str]:
        """GIPP values set by options (``--processing_baseline`` -> ``Baseline_Version``)."""
        if self.processing_baseline is None:
            return {}
        return {"pb.data.baseline_version": self.processing_baseline}


def _flag(name: str) -> str:
    """How the command line spells option ``name`` (``input_dir`` is positional)."""
    return name if name == "input_dir" else f"--{name}"
