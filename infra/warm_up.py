"""Compile every numba kernel of the pipeline into ``NUMBA_CACHE_DIR`` (run by the Dockerfile).

``python warm_up.py <L1C product>``: the image build runs this once on a small simulated L1C
(simulated in a build stage that has the 6S model the image leaves out), processing it as each
function does (one invocation with the COG + STAC and SAFE outputs, the fan-out's plan, strips
and assembly, the classification only). That compiles each kernel the functions reach for the
argument types a real tile gives them (numba caches one entry per signature); a cold function
then loads the kernels from the cache seeded from the image (:mod:`handlers.numba_cache`)
instead of compiling them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.fanout import assemble_tile, correct_strips, plan_tile
from core.pipeline import SceneOutputs, process_scene


def warm_up(l1c_uri: str) -> None:
    """Process the L1C product ``l1c_uri`` every way the functions do (outputs discarded)."""
    gipp = load_gipp()
    with tempfile.TemporaryDirectory(prefix="sen2cloud-warm-up-") as tmp:
        work = Path(tmp)
        l2a = ProcessingOptions(input_dir=l1c_uri)
        one = str(work / "one")
        process_scene(l1c_uri, SceneOutputs(cloud_uri=one, safe_dir=one), l2a, gipp)
        plan = plan_tile(l1c_uri, l2a, gipp, str(work / "context"))
        strips, parts = range(plan.strip_count), str(work / "parts")
        correct_strips(plan, strips, parts, l2a, gipp)
        fanned = SceneOutputs(cloud_uri=str(work / "fan"))
        assemble_tile(plan, parts, [strips], fanned, options=l2a, gipp=gipp)
        sc_only = ProcessingOptions(input_dir=l1c_uri, sc_only=True)
        process_scene(l1c_uri, SceneOutputs(cloud_uri=str(work / "sc")), sc_only, gipp)


if __name__ == "__main__":
    warm_up(sys.argv[1])
