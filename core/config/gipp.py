"""Sen2Cor GIPP configuration: our defaults, a user's GIPP files, then explicit overrides.

The overlay order is that of ``rasterio.profiles.Profile``: the four files in the configuration
folder (``cfg/`` of the repository, or ``$SEN2CLOUD_CFG_DIR``) give every value; a user GIPP
file in Sen2Cor's format (``--GIP_L2A`` and friends; a Sen2Cor 2.8 file loads as is) replaces
the keys it contains; explicit overrides (``"l2a.atmospheric_correction.look_up_tables.
ozone_content": 331``) come last. There are no defaults in Python: a key missing from our own
files is an error.

References
----------
Sen2Cor 2.8 ``L2A_Config.readPreferences`` / ``readGipp`` (the four GIPP files), Sen2Cor 2.11
``--GIP_L2A`` help text (absolute path, else a name under ``$SEN2COR_HOME/cfg``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from core.config.ac_gipp import AcGipp
from core.config.binding import build, replace_path
from core.config.l2a_gipp import L2AGipp
from core.config.pb_gipp import PbGipp
from core.config.sc_gipp import ScGipp
from core.errors import ConfigError, ProductFormatError
from core.io import storage
from core.io.xml import local_name, parse_xml_bytes

CFG_DIR_ENV: Final[str] = "SEN2CLOUD_CFG_DIR"
"""Environment variable naming the configuration folder (default: ``cfg/`` of the repository)."""
OVERRIDE_SOURCE: Final[str] = "<override>"
"""The ``path`` of a :class:`ConfigError` raised by a bad override."""

FILE_NAMES: Final[dict[str, str]] = {
    "l2a": "L2A_GIPP.xml",
    "sc": "L2A_CAL_SC_GIPP.xml",
    "ac": "L2A_CAL_AC_GIPP.xml",
    "pb": "L2A_PB_GIPP.xml",
}
"""Our file of each GIPP group, in the configuration folder."""

_MAX_GIPP_BYTES: Final[int] = 1024 * 1024
"""GIPP files are a few kB; anything above 1 MB is refused."""

G = TypeVar("G", L2AGipp, ScGipp, AcGipp, PbGipp)


@dataclass(frozen=True, slots=True)
class Gipp:
    """The complete configuration: the four GIPP files of Sen2Cor."""

    l2a: L2AGipp
    sc: ScGipp
    ac: AcGipp
    pb: PbGipp


def cfg_dir() -> Path:
    """The configuration folder: ``$SEN2CLOUD_CFG_DIR`` or ``cfg/`` at the repository root."""
    env = os.environ.get(CFG_DIR_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[2] / "cfg"


def resolve_gipp_path(name: str, directory: str | Path | None = None) -> str:
    """Resolve a ``--GIP_*`` argument as Sen2Cor does.

    An absolute path (or a URI such as ``s3://...``) is used as is; anything else is a file name
    under the configuration folder ``directory`` (default :func:`cfg_dir`).
    """
    if os.path.isabs(name) or "://" in name:
        return name
    return str(Path(directory if directory is not None else cfg_dir()) / name)


def load_gipp_file(cls: type[G], uri: str, base: G | None = None) -> G:
    """Read one GIPP file into ``cls``; keys it lacks come from ``base`` (all required if ``None``).

    Raises
    ------
    ConfigError
        Missing, unreadable or malformed file, wrong root element, unknown key, bad value.
    UnsafeInputError
        The file declares a DTD or entities, or is too large.
    """
    try:
        data = storage.read_bytes(uri, max_bytes=_MAX_GIPP_BYTES)
        root = parse_xml_bytes(data, path=uri)
    except ProductFormatError as err:
        # A GIPP file is configuration: not found / malformed is a configuration error.
        raise ConfigError(str(err).removeprefix(f"{uri}: "), path=uri) from err
    if local_name(root.tag) != cls.ROOT:
        raise ConfigError(
            f"root element {local_name(root.tag)!r} is not {cls.ROOT!r}",
            path=uri,
            key=local_name(root.tag),
        )
    return build(cls, root, base, path=uri)


def load_gipp(
    *,
    l2a: str | None = None,
    sc: str | None = None,
    ac: str | None = None,
    pb: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    directory: str | Path | None = None,
) -> Gipp:
    """Load our defaults, overlay the user's GIPP files, then apply ``overrides``.

    Parameters
    ----------
    l2a, sc, ac, pb
        User ``L2A_GIPP``, ``L2A_CAL_SC_GIPP``, ``L2A_CAL_AC_GIPP`` and ``L2A_PB_GIPP`` files
        (``--GIP_L2A``, ``--GIP_L2A_SC``, ``--GIP_L2A_AC``, ``--GIP_L2A_PB``), resolved with
        :func:`resolve_gipp_path`; ``None`` keeps our defaults.
    overrides
        Dotted field path (``"pb.data.baseline_version"``) -> value (XML text or a Python value).
    directory
        The configuration folder holding our defaults (default :func:`cfg_dir`).

    Raises
    ------
    ConfigError
        See :func:`load_gipp_file`; for a bad override ``path`` is ``"<override>"``.
    """
    folder = Path(directory) if directory is not None else cfg_dir()
    user = {"l2a": l2a, "sc": sc, "ac": ac, "pb": pb}
    classes: dict[str, type[Any]] = {"l2a": L2AGipp, "sc": ScGipp, "ac": AcGipp, "pb": PbGipp}
    groups: dict[str, Any] = {}
    for group, cls in classes.items():
        value = load_gipp_file(cls, str(folder / FILE_NAMES[group]))
        name = user[group]
        if name is not None:
            uri = resolve_gipp_path(name, folder)
            if not storage.exists(uri):
                raise ConfigError(
                    f"GIPP file not found (give an absolute path or a file name in {folder})",
                    path=uri,
                )
            value = load_gipp_file(cls, uri, value)
        groups[group] = value
    gipp = Gipp(**groups)
    for dotted, raw in (overrides or {}).items():
        gipp = replace_path(gipp, dotted, raw, path=OVERRIDE_SOURCE)
    return gipp
