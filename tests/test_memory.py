"""The allocator settings of :mod:`core.memory` take effect on glibc (the container's libc)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# A child process: frees a 24 MB array (which raises glibc's dynamic mmap threshold to 24 MB),
# then allocates and touches four 16 MB blocks, allocates a small array after them (it pins the
# heap's top, as the many small objects of a run do) and frees the blocks. Heap-served blocks
# stay resident; mapped ones are given back. Prints the resident growth in MB.
_PROBE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from core.memory import limit_heap_retention
    if sys.argv[1] == "limited":
        assert limit_heap_retention()
    def rss():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024
    np.ones(3 * 2**20).sum()
    before = rss()
    blocks = [np.ones(2 * 2**20) for _ in range(4)]
    pin = np.ones(1024)
    del blocks
    print(rss() - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_freed_strip_sized_blocks_are_given_back() -> None:
    def growth(mode: str) -> float:
        run = subprocess.run(
            [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
        )
        return float(run.stdout)

    assert growth("limited") < 4.0  # 4 x 16 MB were allocated and freed: all given back
    assert growth("default") > 12.0  # glibc's own settings keep at least one (what it fixes)
