"""The ``L2A_Process`` options, written once for both spellings (rasterio ``rio/options.py`` style).

Each option is declared once with Sen2Cor 2.12's flag (``--output_dir``, ``--GIP_L2A``) and the
friendlier flag of ``sen2cloud process`` (``--output-dir``, ``--gipp-l2a``); both fill the same
:class:`~core.config.options.ProcessingOptions` field. Values are checked by
``ProcessingOptions`` itself, so the command line and the handlers refuse the same requests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import click

from core.config.options import MODES, RESOLUTIONS

Style = Literal["sen2cor", "friendly"]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One command-line option: its field, its two flags, its click settings and help."""

    name: str
    sen2cor_flag: str
    friendly_flag: str
    help: str
    settings: dict[str, Any] = field(default_factory=dict)


OPTIONS: Final[tuple[OptionSpec, ...]] = (
    OptionSpec(
        "mode",
        "--mode",
        "--mode",
        "Processing mode (PDGS modes need --datastrip ...).",
        {"type": click.Choice(MODES), "default": "TOOLBOX", "show_default": True},
    ),
    OptionSpec(
        "resolution",
        "--resolution",
        "--resolution",
        "Target resolution in m; if omitted, 20 m then 10 m (and 60 m by downsampling).",
        {"type": click.Choice([str(r) for r in RESOLUTIONS]), "default": None},
    ),
    OptionSpec("datastrip", "--datastrip", "--datastrip", "Datastrip folder (PDGS modes).", {}),
    OptionSpec("tile", "--tile", "--tile", "Tile folder (process_tile mode).", {}),
    OptionSpec(
        "output_dir",
        "--output_dir",
        "--output-dir",
        "Output folder (default: the folder holding the input).",
        {},
    ),
    OptionSpec("work_dir", "--work_dir", "--work-dir", "Work folder.", {}),
    OptionSpec(
        "img_database_dir",
        "--img_database_dir",
        "--img-database-dir",
        "Folder of the input image database (default: work folder).",
        {},
    ),
    OptionSpec(
        "res_database_dir",
        "--res_database_dir",
        "--res-database-dir",
        "Folder of the result database (default: work folder).",
        {},
    ),
    OptionSpec(
        "processing_centre",
        "--processing_centre",
        "--processing-centre",
        "Processing centre, 4 characters A-Z or _.",
        {"metavar": "CODE"},
    ),
    OptionSpec(
        "archiving_centre",
        "--archiving_centre",
        "--archiving-centre",
        "Archiving centre, 4 characters A-Z or _.",
        {"metavar": "CODE"},
    ),
    OptionSpec(
        "processing_baseline",
        "--processing_baseline",
        "--processing-baseline",
        "Processing baseline dd.dd (overrides L2A_PB_GIPP Baseline_Version).",
        {"metavar": "dd.dd"},
    ),
    OptionSpec("raw", "--raw", "--raw", "Export raw images (rawl + ENVI hdr).", {"is_flag": True}),
    OptionSpec(
        "tif", "--tif", "--tif", "Export images as GeoTIFF instead of JPEG 2000.", {"is_flag": True}
    ),
    OptionSpec(
        "sc_only",
        "--sc_only",
        "--sc-only",
        "Scene classification only (20 or 60 m).",
        {"is_flag": True},
    ),
    OptionSpec(
        "sc_classic",
        "--sc_classic",
        "--sc-classic",
        "Scene classification in Sen2Cor 2.9 (classic) mode.",
        {"is_flag": True},
    ),
    OptionSpec(
        "sc_cog",
        "--sc_cog",
        "--sc-cog",
        "Write the SCL as a COG instead of JPEG 2000.",
        {"is_flag": True},
    ),
    OptionSpec(
        "cr_only", "--cr_only", "--cr-only", "Only create the L2A product tree.", {"is_flag": True}
    ),
    OptionSpec(
        "debug", "--debug", "--debug", "Debug logging and full tracebacks.", {"is_flag": True}
    ),
    OptionSpec(
        "gip_l2a",
        "--GIP_L2A",
        "--gipp-l2a",
        "User L2A_GIPP file (absolute path or name in the cfg folder).",
        {},
    ),
    OptionSpec("gip_l2a_sc", "--GIP_L2A_SC", "--gipp-sc", "User L2A_CAL_SC_GIPP file.", {}),
    OptionSpec("gip_l2a_ac", "--GIP_L2A_AC", "--gipp-ac", "User L2A_CAL_AC_GIPP file.", {}),
    OptionSpec("gip_l2a_pb", "--GIP_L2A_PB", "--gipp-pb", "User L2A_PB_GIPP file.", {}),
)
"""Every Sen2Cor 2.12 ``L2A_Process`` option but the positional ``input_dir`` (facts §6.1)."""


def processing_options(style: Style) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator adding every option of :data:`OPTIONS` in the given spelling."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for spec in reversed(OPTIONS):
            flag = spec.sen2cor_flag if style == "sen2cor" else spec.friendly_flag
            if spec.settings.get("is_flag"):
                settings: dict[str, Any] = {"is_flag": True, "default": False}
            elif "type" in spec.settings:
                settings = {"default": None, **spec.settings}
            else:
                settings = {"default": None, "metavar": "PATH", **spec.settings}
            command = click.option(flag, spec.name, help=spec.help, **settings)(command)
        return command

    return decorate
