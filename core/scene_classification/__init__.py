"""Scene classification (SCL, cloud and snow probabilities) of Sentinel-2 TOA reflectance.

:func:`classify` is the public entry point; :mod:`.steps` holds Sen2Cor's classic steps,
:mod:`.shadows` the cloud-shadow detection, :mod:`.kernels` the per-pixel numba kernels and
:mod:`.morphology` the filters and dilations.
"""

from core.scene_classification.classify import ScAux, SceneClassification, classify

__all__ = ["ScAux", "SceneClassification", "classify"]
