"""A full-size L1C tile for benchmarks, cheaply: the physical simulator at 1830², upsampled.

The physical simulator at 10980² takes ~5.5 minutes and ~17 GB. Timing the I/O floor (and the
pipeline) needs a *valid* L1C product of the right size whose bands code like real ones, not
new physics. So :func:`synthetic_product` simulates the scene at :data:`BASE_SIZE` (clouds,
terrain, 6S), repeats every pixel ``factor`` × ``factor`` and adds Gaussian noise of
:data:`NOISE_REFLECTANCE` to the TOA reflectance, so that the bands code (lossless JPEG 2000)
at a rate comparable to real L1C bands (somewhat above it: see the constant). Geometry (grids,
sun and viewing angles, detector footprints) is simulated at full size, and the product is
written by the simulator's own SAFE writer, so readers see an ordinary simulated product.
Making the 10980² product took 240 CPU-s (11 min wall on a loaded machine) and 8.7 GB peak.

The ``truth/`` folder is the small scene's truth upsampled (its BOA has no noise, its terrain
shadow comes from the full-size landscape): use it for timing, not for scoring accuracy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

import numpy as np

from core.bands import BAND_NAMES
from core.simulate.forward import simulate_scene
from core.simulate.geometry import simulate_geometry
from core.simulate.l1c_safe import write_l1c_safe
from core.simulate.scene import SceneSpec, SimulatedScene

BASE_SIZE: Final[int] = 1830
"""Side (10 m pixels) of the physically simulated scene that is upsampled."""
NOISE_REFLECTANCE: Final[float] = 0.0012
"""Standard deviation of the added noise (12 DN): pixel repetition alone leaves flat 6×6
blocks that code unrealistically cheaply at fine wavelet levels. Measured on the 10980² seed-1
product: B02 codes at 6.5 bpp (98 MB) and B8A at 7.5 bpp, against 5.3 bpp for a real L1C B02
(perf anchors A.3), so the product is ~20 % harder to code than a real tile and the floors
measured on it are on the conservative side."""


class _Upsampled(dict[str, np.ndarray]):
    """Band -> upsampled (and noisy) array, computed on each access and never stored.

    The SAFE writer reads each band once or twice; holding all 13 full-size bands in float32
    would take 2.7 GB. Noise is seeded per band, so every access gives the same array. Only
    item access works (iteration sees an empty dict).
    """

    def __init__(self, small: dict[str, np.ndarray], factor: int, noise: float, seed: int):
        super().__init__()
        self._small, self._factor, self._noise, self._seed = small, factor, noise, seed

    def __missing__(self, band: str) -> np.ndarray:
        values = repeat_pixels(self._small[band], self._factor)
        if self._noise > 0:
            rng = np.random.default_rng([self._seed, BAND_NAMES.index(band)])
            values += self._noise * rng.standard_normal(values.shape, dtype=np.float32)
        return values


def repeat_pixels(values: np.ndarray, factor: int) -> np.ndarray:
    """Each pixel repeated ``factor`` × ``factor`` times (one copy, no intermediate)."""
    rows, cols = values.shape
    blocks = np.broadcast_to(values[:, None, :, None], (rows, factor, cols, factor))
    return blocks.reshape(rows * factor, cols * factor).copy()


def upscale_scene(scene: SimulatedScene, size: int, *, seed: int) -> SimulatedScene:
    """``scene`` brought to ``size`` (a multiple of its size): geometry simulated at ``size``,
    TOA repeated with noise, truth layers repeated."""
    factor, remainder = divmod(size, scene.spec.size)
    if remainder or factor < 1:
        raise ValueError(f"size {size} is not a multiple of the scene size {scene.spec.size}")
    spec = replace(scene.spec, size=size)
    return SimulatedScene(
        spec=spec,
        geometry=simulate_geometry(spec),
        toa_reflectance=_Upsampled(scene.toa_reflectance, factor, NOISE_REFLECTANCE, seed),
        boa_reflectance=_Upsampled(scene.boa_reflectance, factor, 0.0, seed),
        scene_class=repeat_pixels(scene.scene_class, factor),
        aot550=repeat_pixels(scene.aot550, factor),
        wv_cm=repeat_pixels(scene.wv_cm, factor),
        dem_m=repeat_pixels(scene.dem_m, factor),
        ozone_du=scene.ozone_du,
    )


def synthetic_product(output_dir: str, spec: SceneSpec, *, threads: int = 1) -> str:
    """Write an L1C SAFE of ``spec.size`` (a multiple of :data:`BASE_SIZE`) into ``output_dir``
    from a scene simulated at :data:`BASE_SIZE`; return the ``.SAFE`` path."""
    small_spec = replace(spec, size=BASE_SIZE)
    small = simulate_scene(small_spec, simulate_geometry(small_spec))
    return write_l1c_safe(
        upscale_scene(small, spec.size, seed=spec.seed), output_dir, threads=threads
    )
