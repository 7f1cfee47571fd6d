"""Seed numba's kernel cache from the container image on a cold start (issue #7).

The image compiles every numba kernel at build time (``infra/warm_up.py``) into a cache folder
baked into the image, ``SEN2CLOUD_NUMBA_CACHE_SEED``. numba only uses a cache folder it can
write to (it probes it with a temporary file), and Lambda's only writable folder is ``/tmp``,
fresh for every instance: the first import of a handler copies the baked cache to
``NUMBA_CACHE_DIR`` under ``/tmp`` so that the kernels load instead of compiling. Outside the
image neither variable is set and nothing happens.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Final

SEED_ENV: Final[str] = "SEN2CLOUD_NUMBA_CACHE_SEED"


def seed_numba_cache(env: Mapping[str, str] = os.environ) -> bool:
    """Copy the baked cache to ``NUMBA_CACHE_DIR`` unless it is there; ``True`` if copied."""
    seed, cache = env.get(SEED_ENV), env.get("NUMBA_CACHE_DIR")
    if not seed or not cache or not os.path.isdir(seed) or os.path.exists(cache):
        return False
    shutil.copytree(seed, cache)
    return True
