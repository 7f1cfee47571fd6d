"""Process-wide allocator settings that keep a whole-tile run's memory bounded (glibc only).

A tile's strips allocate and free many 5-50 MB arrays on several threads. glibc serves a block
above its mmap threshold with ``mmap`` (given back on free), but after each such free raises the
threshold up to 32 MB, and gives each thread an arena of its own: freed strip arrays then stay in
the arenas, and the resident memory of a 10980² run grew by 0.5-1.5 GB over its strips
(measured; ``make bench``). :func:`limit_heap_retention` pins the threshold and the number of
arenas with ``mallopt(3)``, what ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_ARENA_MAX`` do from the
environment, so that the command line, the functions and the benchmark run alike.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Final

MMAP_THRESHOLD_BYTES: Final = 8 * 2**20
"""Blocks from 8 MB (a 20 m strip band is ~14 MB) are mapped and unmapped on their own."""
ARENAS: Final = 2
"""Heap arenas shared by all threads (glibc's default is 8 per core)."""
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8
"""``mallopt`` parameter numbers of glibc's ``malloc.h``."""


@functools.cache
def limit_heap_retention() -> bool:
    """Apply the settings once per process; False where the C library has no ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    applied = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return mallopt(_M_ARENA_MAX, ARENAS) == 1 and applied
