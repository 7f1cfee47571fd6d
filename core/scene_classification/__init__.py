"""Scene classification (SCL, cloud and snow probabilities) of Sentinel-2 TOA reflectance.

:func:`classify` is the public entry point and :func:`load_sc_aux` reads Sen2Cor's auxiliary maps
onto the working grid. :mod:`.steps` holds Sen2Cor's classic steps and the default-mode
additions, :mod:`.shadows` the classic cloud-shadow detection, :mod:`.shadow_matching` the
default-mode cloud-height matching and shadow edges, :mod:`.land_cover` the ESA CCI land-cover
recoveries (steps 15-17), :mod:`.topography` the topographic cast shadow, :mod:`.kernels` the
per-pixel numba kernels and :mod:`.morphology` the filters and dilations.
"""

from core.scene_classification.aux_maps import load_sc_aux
from core.scene_classification.classify import ScAux, SceneClassification, classify

__all__ = ["ScAux", "SceneClassification", "classify", "load_sc_aux"]
