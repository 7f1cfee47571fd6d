"""Simulate a whole L1C product: geometry -> physics -> SAFE + truth."""

from __future__ import annotations

from pathlib import Path

from core.simulate.forward import simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.scene import SceneSpec


def simulate_product(
    output_dir: str,
    spec: SceneSpec,
    *,
    with_aux: bool = False,
    cache_dir: Path | None = None,
    workers: int | None = None,
) -> str:
    """Simulate ``spec`` and write the L1C SAFE (and ``truth/``) into ``output_dir``.

    Parameters
    ----------
    output_dir
        Folder receiving the ``.SAFE`` product and the ``truth/`` folder.
    spec
        What to simulate; the same spec gives byte-identical rasters.
    with_aux
        Also write the ``AUX_ECMWFT`` / ``AUX_CAMSFO`` GRIB files.
    cache_dir, workers
        6S cache folder and process count of the radiative-transfer runs.

    Returns
    -------
    str
        Path of the ``.SAFE`` folder written.
    """
    geometry = simulate_geometry(spec)
    scene = simulate_scene(spec, geometry, cache_dir=cache_dir, workers=workers)
    return write_l1c_safe(scene, output_dir, with_aux=with_aux)
