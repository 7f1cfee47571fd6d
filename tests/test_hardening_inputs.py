"""Hardening matrix at the command line (issue #8): corrupt, incomplete, unsupported and hostile
inputs, extreme geometry, a full /tmp and memory pressure.

Each case damages a copy of one tiny simulated L1C (60 px) and runs ``L2A_Process --sc_only``.
A refusal must exit 2 with one ``error: <file>: <problem>`` line naming the file and the reason,
a failure of the machine (disk, memory) must exit 1 the same way, and neither may leave anything
in the output folder. Cases that must be processed exit 0 with a valid scene classification.
The summary (cases per outcome) is written as JSON under the test's temporary folder and printed.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import stat
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from hardening_helpers import PROCESSED, REFUSED, Case, Summary

from core.cli.l2a_process import main as l2a_process
from core.cli.main import cli
from core.simulate.product import simulate_product
from core.simulate.scene import SceneSpec

ROOT = Path(__file__).resolve().parents[1]
L2A_REAL = "l2a-real/S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
ANTIMERIDIAN_L1C = (
    "metadata/stactools-sentinel2/S2A_MSIL1C_20200717T221941_R029_T01LAC_20200717T234135.SAFE"
)
FSIZE_LIMIT = 4096
"""Largest file the /tmp-full run may write (bytes): every product file is larger."""
ADDRESS_SPACE_MARGIN = 64 * 1024 * 1024
"""Address space left to the memory-pressure run beyond what its imports took."""
MB = 1024 * 1024


@pytest.fixture(scope="module")
def base_safe(tmp_path_factory) -> Path:
    return Path(simulate_product(str(tmp_path_factory.mktemp("l1c")), SceneSpec(size=60, seed=11)))


@pytest.fixture(scope="module")
def summary(tmp_path_factory) -> Iterator[Summary]:
    collected = Summary("hardening-inputs")
    yield collected
    collected.write(tmp_path_factory.mktemp("summary"))


def _one(safe: Path, pattern: str) -> Path:
    (found,) = sorted(safe.rglob(pattern))
    return found


def _truncate(path: Path, size: int | None = None) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 if size is None else size])


def _write_jp2(path: Path, data: np.ndarray, crs: object, transform: object) -> None:
    """A lossless single-band uint16 JPEG 2000, as the L1C bands are."""
    profile = {
        "driver": "JP2OpenJPEG",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": "uint16",
        "crs": crs,
        "transform": transform,
        "QUALITY": 100,
        "REVERSIBLE": "YES",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _rewrite_band(path: Path, *, shape_delta: int = 0, crs: str | None = None) -> None:
    """Rewrite a band JP2 with another size or CRS (same pixels otherwise, lossless)."""
    with rasterio.open(path) as src:
        data, source_crs, transform = src.read(1), src.crs, src.transform
    if shape_delta:
        data = data[:shape_delta, :shape_delta]
    _write_jp2(path, data, crs or source_crs, transform)


def _all_nodata(safe: Path) -> None:
    for path in safe.rglob("IMG_DATA/*.jp2"):
        with rasterio.open(path) as src:
            shape, crs, transform = src.shape, src.crs, src.transform
        _write_jp2(path, np.zeros(shape, np.uint16), crs, transform)


def _sun_zenith(safe: Path, zenith: float) -> None:
    """Every sun zenith of the tile metadata (grid and mean) set to ``zenith`` degrees."""
    tile = _one(safe, "MTD_TL.xml")
    text = tile.read_text()
    grid = re.search(r"<Sun_Angles_Grid>.*?</Sun_Angles_Grid>", text, re.S)
    assert grid
    zeniths = re.search(r"<Zenith>.*?</Zenith>", grid[0], re.S)
    assert zeniths
    values = re.sub(
        r"(<VALUES>)([^<]*)(</VALUES>)",
        lambda m: m[1] + " ".join(f"{zenith:g}" for _ in m[2].split()) + m[3],
        zeniths[0],
    )
    text = text.replace(zeniths[0], values)
    text = re.sub(
        r'(<Mean_Sun_Angle>\s*<ZENITH_ANGLE unit="deg">)[^<]*',
        lambda m: f"{m[1]}{zenith:g}",
        text,
    )
    tile.write_text(text)


def _entities(path: Path, doctype: str, reference: str) -> None:
    """Insert ``doctype`` after the XML declaration and ``reference`` as the product URI."""
    text = path.read_text()
    declaration, rest = text.split("?>", 1)
    rest = re.sub(r"<PRODUCT_URI>[^<]*", f"<PRODUCT_URI>{reference}", rest)
    path.write_text(f"{declaration}?>\n{doctype}{rest}")


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
XXE = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _zipped(safe: Path, extra: dict[str, bytes], link: str | None = None) -> Path:
    archive = safe.parent / f"{safe.stem}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in safe.rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(safe.parent).as_posix())
        for member, data in extra.items():
            zf.writestr(member, data)
        if link is not None:
            info = zipfile.ZipInfo(f"{safe.name}/GRANULE/link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link)
    shutil.rmtree(safe)
    return archive


def _manifest_href(safe: Path, href: str) -> None:
    manifest = safe / "manifest.safe"
    manifest.write_text(manifest.read_text().replace('href="./MTD_MSIL1C.xml"', f'href="{href}"'))


def _baseline(safe: Path, baseline: str) -> None:
    mtd = safe / "MTD_MSIL1C.xml"
    mtd.write_text(
        re.sub(r"<PROCESSING_BASELINE>[^<]*", f"<PROCESSING_BASELINE>{baseline}", mtd.read_text())
    )


Mutation = Callable[[Path], Path | None]
"""Damages the copied SAFE in place; returns another input path (a zip) or ``None``."""


def _band(pattern: str, action: Callable[[Path], None]) -> Mutation:
    def mutate(safe: Path) -> None:
        action(_one(safe, f"IMG_DATA/*{pattern}"))

    return mutate


def _file(pattern: str, action: Callable[[Path], None]) -> Mutation:
    def mutate(safe: Path) -> None:
        action(_one(safe, pattern))

    return mutate


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not a JPEG 2000 codestream\n" * 100)


def _gtiff_named_jp2(path: Path) -> None:
    with rasterio.open(path) as src:
        profile, data = src.profile, src.read(1)
    profile.update(driver="GTiff")
    path.unlink()
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


CASES = [
    Case("jp2-zero-byte", _band("_B04.jp2", lambda p: _truncate(p, 0)), REFUSED, r"B04\.jp2"),
    Case("jp2-truncated", _band("_B11.jp2", _truncate), REFUSED, r"B11\.jp2"),
    Case("jp2-not-a-jp2", _band("_B02.jp2", _garbage), REFUSED, r"B02\.jp2"),
    Case(
        "jp2-is-a-geotiff",
        _band("_B03.jp2", _gtiff_named_jp2),
        REFUSED,
        r"B03\.jp2",
    ),
    Case("band-missing", _band("_B8A.jp2", Path.unlink), REFUSED, r"B8A\.jp2.*missing"),
    Case(
        "band-size-mismatch",
        _band("_B05.jp2", lambda p: _rewrite_band(p, shape_delta=-5)),
        REFUSED,
        r"B05\.jp2",
    ),
    Case(
        "band-crs-mismatch",
        _band("_B06.jp2", lambda p: _rewrite_band(p, crs="EPSG:32631")),
        REFUSED,
        r"B06\.jp2.*(CRS|EPSG|coordinate)",
    ),
    Case("mtd-missing", _file("MTD_MSIL1C.xml", Path.unlink), REFUSED, r"MTD_MSIL1C\.xml"),
    Case(
        "mtd-truncated",
        _file("MTD_MSIL1C.xml", _truncate),
        REFUSED,
        r"MTD_MSIL1C\.xml: malformed XML",
    ),
    Case("tile-mtd-missing", _file("MTD_TL.xml", Path.unlink), REFUSED, r"MTD_TL\.xml"),
    Case("tile-mtd-truncated", _file("MTD_TL.xml", _truncate), REFUSED, r"MTD_TL\.xml: malformed"),
    Case("manifest-truncated", _file("manifest.safe", _truncate), REFUSED, r"manifest\.safe"),
    Case(
        "manifest-href-traversal",
        lambda s: _manifest_href(s, "./../../../../../etc/passwd"),
        REFUSED,
        "outside the product",
    ),
    Case(
        "baseline-unsupported",
        lambda s: _baseline(s, "01.00"),
        REFUSED,
        r"MTD_MSIL1C\.xml.*baseline",
    ),
    Case(
        "billion-laughs",
        _file("MTD_MSIL1C.xml", lambda p: _entities(p, BILLION_LAUGHS, "&lol9;")),
        REFUSED,
        r"MTD_MSIL1C\.xml: XML refused",
    ),
    Case(
        "xxe",
        _file("MTD_MSIL1C.xml", lambda p: _entities(p, XXE, "&xxe;")),
        REFUSED,
        r"MTD_MSIL1C\.xml: XML refused",
    ),
    Case(
        "zip-bomb",
        lambda s: _zipped(s, {f"{s.name}/AUX_DATA/bomb": b"\0" * (16 * MB)}),
        REFUSED,
        "zip bomb",
    ),
    Case(
        "zip-path-traversal",
        lambda s: _zipped(s, {"../../evil.sh": b"#!/bin/sh\n"}),
        REFUSED,
        "escapes the archive",
    ),
    Case("zip-symlink", lambda s: _zipped(s, {}, link="/etc/passwd"), REFUSED, "symbolic link"),
    Case("all-no-data", _all_nodata, PROCESSED),
    Case("sun-zenith-75", lambda s: _sun_zenith(s, 75.0), PROCESSED),
    Case("sun-zenith-85", lambda s: _sun_zenith(s, 85.0), PROCESSED),
]


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_damaged_and_hostile_inputs(case, base_safe, tmp_path, summary):
    summary.record(case, passed=False)
    safe = Path(shutil.copytree(base_safe, tmp_path / "in" / base_safe.name))
    assert case.setup is not None
    source = case.setup(safe) or safe
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(l2a_process, [str(source), "--sc_only", "--output_dir", str(out)])
    if case.outcome == REFUSED:
        assert result.exit_code == 2, result.output[-2000:]
        line = _error_line(result.stderr)
        assert re.search(case.reason, line), line
        assert "root:" not in result.output  # no file content leaks into the message
        assert _files(out) == []
    else:
        assert result.exit_code == 0, result.output[-2000:]
        (scl,) = [p for p in _files(out) if p.name.endswith("_SCL_20m.jp2")]
        with rasterio.open(scl) as src:
            classes = src.read(1)
        assert classes.max() <= 11
        if case.id == "all-no-data":
            assert np.all(classes == 0)  # NO_DATA everywhere, no class invented
        else:
            assert np.any(classes > 0)
    summary.record(case)


def test_a_level_2a_product_is_refused(shared_data, tmp_path, summary):
    case = Case("l2a-as-input", None, REFUSED, "Level-2A")
    summary.record(case, passed=False)
    result = CliRunner().invoke(
        l2a_process,
        [str(shared_data / L2A_REAL), "--sc_only", "--output_dir", str(tmp_path)],
    )
    assert result.exit_code == 2
    assert re.search(case.reason, _error_line(result.stderr))
    assert _files(tmp_path) == []
    summary.record(case)


def test_an_antimeridian_tile_is_read(shared_data, summary):
    """Real L1C metadata of tile 01LAC (UTM zone 1, on the antimeridian)."""
    case = Case("antimeridian-tile", None, PROCESSED)
    summary.record(case, passed=False)
    result = CliRunner().invoke(cli, ["info", str(shared_data / ANTIMERIDIAN_L1C)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert "01LAC" in json.dumps(info)
    summary.record(case)


# -- the machine fails: a full disk, too little memory (subprocesses with resource limits) ----

LIMITED_RUN = textwrap.dedent(
    """
    import resource, sys
    from core.cli.l2a_process import main
    kind, amount = sys.argv[1], int(sys.argv[2])
    if kind == "as":  # the imports are done: leave only a margin of address space
        with open("/proc/self/status") as status:
            size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (size + amount, size + amount))
    else:  # every file written from now on is capped (Python ignores SIGXFSZ: EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (amount, amount))
    main(sys.argv[3:])
    """
)


def _cli_args(safe: Path, out: Path) -> list[str]:
    return [str(safe), "--sc_only", "--output_dir", str(out)]


def _limited(
    kind: str, amount: int, safe: Path, out: Path, tmp: Path
) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", LIMITED_RUN, kind, str(amount), *_cli_args(safe, out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


LIMITS = {
    "tmp-full": ("fsize", FSIZE_LIMIT, r"File too large|Errno 27"),
    "memory-pressure": ("as", ADDRESS_SPACE_MARGIN, r"MemoryError"),
}
"""Case -> resource limited, its amount and the reason the error line must give."""


@pytest.fixture(scope="module")
def limited_runs(
    base_safe, tmp_path_factory
) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Each :data:`LIMITS` run once: its result and its folder (``out/`` and ``tmp/``)."""
    runs = {}
    for case_id, (kind, amount, _) in LIMITS.items():
        folder = tmp_path_factory.mktemp(case_id)
        (folder / "out").mkdir()
        (folder / "tmp").mkdir()
        runs[case_id] = (_limited(kind, amount, base_safe, folder / "out", folder / "tmp"), folder)
    return runs


@pytest.mark.parametrize("case_id", list(LIMITS))
def test_a_full_disk_or_too_little_memory_fails_cleanly(case_id, limited_runs, summary):
    """/tmp full: RLIMIT_FSIZE caps every file the run writes (a non-root stand-in for a full
    file system: writes fail with EFBIG instead of ENOSPC). Memory pressure: RLIMIT_AS leaves
    the run a small margin of address space after its imports (with a larger margin, around
    160 MB here, LLVM aborts the process while loading numba's cached kernels instead)."""
    case = Case(case_id, None, "failed cleanly")
    summary.record(case, passed=False)
    result, folder = limited_runs[case_id]
    assert result.returncode == 1, result.stderr[-3000:]
    assert re.search(LIMITS[case_id][2], _error_line(result.stderr)), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert _files(folder / "out") == []
    assert _files(folder / "tmp") == []  # the staging and temporary files are gone too
    summary.record(case)


def test_a_full_disk_error_names_the_output(limited_runs):
    result, folder = limited_runs["tmp-full"]
    line = _error_line(result.stderr)
    assert str(folder / "out") in line or str(folder / "tmp") in line, line


def test_rlimit_fsize_really_caps_writes(tmp_path):
    """The /tmp-full stand-in works: a write above the cap fails with EFBIG (no signal)."""
    script = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({FSIZE_LIMIT}, {FSIZE_LIMIT}))\n"
        "with open(sys.argv[1], 'wb') as big:\n"
        f"    big.write(b'x' * {2 * FSIZE_LIMIT})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "big")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "File too large" in result.stderr
    assert (tmp_path / "big").stat().st_size <= FSIZE_LIMIT
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] != FSIZE_LIMIT  # pytest unaffected
