"""The real ``L2A_Process`` and ``sen2cloud`` commands, driven through click's CliRunner.

Input products are built in a temporary folder from the real metadata of an operational L1C
product (``metadata/stactools-sentinel2/S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_...``):
its MTD_MSIL1C.xml and MTD_TL.xml in the SAFE layout. ``--cr_only`` needs no pixels, so no band
file is written; the expected L2A names follow Sen2Cor's naming rules applied to the input name.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from core.cli.l2a_process import main as l2a_process
from core.cli.main import cli

L1C_NAME = "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
GRANULE = "L1C_T46RER_A032448_20210908T043714"

SEN2COR_OPTIONS = [
    "--mode", "--resolution", "--datastrip", "--tile", "--output_dir", "--work_dir",
    "--img_database_dir", "--res_database_dir", "--processing_centre", "--archiving_centre",
    "--processing_baseline", "--raw", "--tif", "--sc_only", "--sc_classic", "--sc_cog",
    "--cr_only", "--debug", "--GIP_L2A", "--GIP_L2A_SC", "--GIP_L2A_AC", "--GIP_L2A_PB",
    "--version",
]  # fmt: skip
"""Sen2Cor 2.12 ``L2A_Process --help`` (facts §6.1)."""


@pytest.fixture
def l1c_safe(shared_data: Path, tmp_path: Path) -> Path:
    """A SAFE folder holding the real product and tile metadata of one L1C product."""
    source = shared_data / "metadata" / "stactools-sentinel2" / L1C_NAME
    safe = tmp_path / "input" / L1C_NAME
    granule = safe / "GRANULE" / GRANULE
    granule.mkdir(parents=True)
    shutil.copy(source / "MTD_MSIL1C.xml", safe / "MTD_MSIL1C.xml")
    shutil.copy(source / "GRANULE" / GRANULE / "MTD_TL.xml", granule / "MTD_TL.xml")
    return safe


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def run(command: object, *args: str) -> Result:
    return CliRunner().invoke(command, list(args))  # type: ignore[arg-type]


def error_line(result: Result) -> str:
    """The one ``error:`` line on stderr (and nothing else but progress)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_help_lists_every_sen2cor_option() -> None:
    result = run(l2a_process, "--help")
    assert result.exit_code == 0
    for option in SEN2COR_OPTIONS:
        assert re.search(rf"(^|\s){re.escape(option)}\b", result.stdout), option
    assert "input_dir" in result.stdout


def test_version() -> None:
    result = run(l2a_process, "--version")
    assert result.exit_code == 0
    assert "L2A_Process" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--resolution", "30"], "'30' is not one of"),
        (["--mode", "FAST"], "'FAST' is not one of"),
        (["--no_such_option"], "No such option"),
        (["--archiving_centre", "sgs_"], "--archiving_centre: 'sgs_' is not 4 characters"),
        (["--processing_centre", "SGS"], "--processing_centre: 'SGS' is not 4 characters"),
        (["--processing_baseline", "4.0"], "--processing_baseline: '4.0' is not of the form"),
        (["--raw", "--tif"], "--raw and --tif exclude each other"),
        (["--sc_only", "--cr_only"], "--sc_only and --cr_only exclude each other"),
        (
            ["--mode", "generate_datastrip", "--datastrip", "DS"],
            "generate_datastrip requires --processing_centre, --archiving_centre, --work_dir",
        ),
        (["--mode", "process_tile", "--tile", "T"], "requires --datastrip, --work_dir"),
    ],
)
def test_bad_options_exit_2(l1c_safe: Path, out: Path, args: list[str], message: str) -> None:
    result = run(l2a_process, str(l1c_safe), "--output_dir", str(out), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert list(out.iterdir()) == []


def test_missing_input_exits_2_naming_it(tmp_path: Path, out: Path) -> None:
    missing = tmp_path / L1C_NAME
    result = run(l2a_process, str(missing), "--output_dir", str(out), "--cr_only")
    assert result.exit_code == 2
    assert error_line(result) == f"error: {missing}: product not found"
    assert list(out.iterdir()) == []


def test_garbage_metadata_exits_2_naming_the_file(l1c_safe: Path, out: Path) -> None:
    metadata = l1c_safe / "MTD_MSIL1C.xml"
    metadata.write_bytes(metadata.read_bytes()[:2000])  # truncated download
    result = run(l2a_process, str(l1c_safe), "--output_dir", str(out), "--cr_only")
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith(f"error: {metadata}: ")
    assert "Traceback" not in result.stderr
    assert list(out.iterdir()) == []


def test_debug_adds_the_traceback(tmp_path: Path, out: Path) -> None:
    missing = tmp_path / L1C_NAME
    result = run(l2a_process, str(missing), "--output_dir", str(out), "--cr_only", "--debug")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_bad_user_gipp_exits_2_naming_file_and_key(
    shared_data: Path, l1c_safe: Path, out: Path, tmp_path: Path
) -> None:
    gipp = tmp_path / "L2A_GIPP.xml"
    text = (shared_data / "sen2cor-2.8" / "cfg" / "L2A_GIPP.xml").read_text()
    gipp.write_text(text.replace("<Visibility>40.0</Visibility>", "<Visibility>4</Visibility>"))
    result = run(
        l2a_process, str(l1c_safe), "--output_dir", str(out), "--cr_only", "--GIP_L2A", str(gipp)
    )
    assert result.exit_code == 2
    assert error_line(result).startswith(
        f"error: {gipp}: Atmospheric_Correction/Calibration/Visibility: 4.0 is outside"
    )
    assert list(out.iterdir()) == []


def l2a_name_pattern(l1c_name: str, baseline: str) -> re.Pattern[str]:
    """Sen2Cor's L2A product name for ``l1c_name`` (facts §5.2), generation time free."""
    mission, _, datatake, _, orbit, tile, _ = l1c_name.removesuffix(".SAFE").split("_")
    return re.compile(
        rf"{mission}_MSIL2A_{datatake}_N{baseline}_{orbit}_{tile}_\d{{8}}T\d{{6}}\.SAFE"
    )


def test_cr_only_creates_the_l2a_tree(l1c_safe: Path, out: Path) -> None:
    result = run(l2a_process, str(l1c_safe), "--output_dir", str(out), "--cr_only")
    assert result.exit_code == 0, result.output
    product = Path(result.stdout.strip())
    assert product.parent == out
    assert l2a_name_pattern(L1C_NAME, "9999").fullmatch(product.name)
    assert [p.name for p in out.iterdir()] == [product.name]  # nothing staged left behind
    assert (product / "MTD_MSIL2A.xml").is_file()
    granule = product / "GRANULE" / GRANULE.replace("L1C_", "L2A_")
    assert (granule / "MTD_TL.xml").is_file()
    assert {p.name for p in (granule / "IMG_DATA").iterdir()} == {"R10m", "R20m", "R60m"}
    assert not any((granule / "IMG_DATA").rglob("*.jp2"))  # cr_only: no image rasters


def test_cr_only_defaults_to_the_input_folder_and_takes_the_baseline(l1c_safe: Path) -> None:
    result = run(l2a_process, str(l1c_safe), "--cr_only", "--processing_baseline", "05.11")
    assert result.exit_code == 0, result.output
    product = Path(result.stdout.strip())
    assert product.parent == l1c_safe.parent
    assert l2a_name_pattern(L1C_NAME, "0511").fullmatch(product.name)


@pytest.mark.parametrize(
    "args",
    [
        ["--mode", "process_tile", "--datastrip", "DS", "--tile", "T", "--work_dir", "W"],
        [
            "--mode", "generate_datastrip", "--datastrip", "DS", "--processing_centre", "SGS_",
            "--archiving_centre", "SGS_", "--work_dir", "W",
        ],
    ],
)  # fmt: skip
def test_steps_not_implemented_exit_1_and_write_nothing(
    l1c_safe: Path, out: Path, args: list[str]
) -> None:
    result = run(l2a_process, str(l1c_safe), "--output_dir", str(out), *args)
    assert result.exit_code == 1, result.output
    assert "not available yet" in error_line(result)
    assert list(out.iterdir()) == []
    assert sorted(p.name for p in l1c_safe.parent.iterdir()) == [L1C_NAME]


@pytest.mark.parametrize("args", [[], ["--resolution", "60"], ["--sc_only"]])
def test_a_product_without_band_files_exits_2_and_writes_nothing(
    l1c_safe: Path, out: Path, args: list[str]
) -> None:
    result = run(l2a_process, str(l1c_safe), "--output_dir", str(out), *args)
    assert result.exit_code == 2, result.output
    assert "B0" in error_line(result)  # names the missing band file
    assert list(out.iterdir()) == []


def test_sen2cloud_process_uses_friendly_names(l1c_safe: Path, out: Path) -> None:
    result = run(cli, "process", str(l1c_safe), "--output-dir", str(out), "--cr-only")
    assert result.exit_code == 0, result.output
    assert l2a_name_pattern(L1C_NAME, "9999").fullmatch(Path(result.stdout.strip()).name)


def test_sen2cloud_info_prints_the_metadata_as_json(l1c_safe: Path) -> None:
    result = run(cli, "info", str(l1c_safe))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    _, _, _, baseline, orbit, tile, _ = L1C_NAME.removesuffix(".SAFE").split("_")
    assert summary["tile_id"] == tile[1:]
    assert summary["relative_orbit"] == int(orbit[1:])
    assert summary["processing_baseline"] == f"{baseline[1:3]}.{baseline[3:]}"
    assert summary["grids"]["10"]["width"] == 10980  # a full 100 km tile at 10 m


def test_sen2cloud_info_on_missing_input_exits_2(tmp_path: Path) -> None:
    result = run(cli, "info", str(tmp_path / L1C_NAME))
    assert result.exit_code == 2
    assert error_line(result).endswith("product not found")


def test_sen2cloud_lists_its_subcommands() -> None:
    result = run(cli, "--help")
    assert result.exit_code == 0
    for command in ("process", "simulate", "demo", "info"):
        assert command in result.stdout


def test_demo_refuses_a_folder_in_use(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("user data")
    result = run(cli, "demo", "--output-dir", str(tmp_path))
    assert result.exit_code == 1
    assert error_line(result) == (
        f"error: {tmp_path}: output folder holds files the demo did not write (keep.txt); "
        "choose another --output-dir"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


@pytest.mark.slow  # a cold 6S cache makes the simulation take minutes
def test_demo_simulates_and_processes(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run(cli, "demo", "--output-dir", str(folder), "--size", "60", "--seed", "3")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines()[:2])
    l1c = Path(lines["L1C input"].strip())
    l2a = Path(lines["L2A product"].strip())
    assert l1c.parent == folder
    assert l2a.parent == folder
    assert (l1c / "MTD_MSIL1C.xml").is_file()
    assert l2a_name_pattern(l1c.name, "9999").fullmatch(l2a.name)
    assert (l2a / "MTD_MSIL2A.xml").is_file()
    assert len(list(l2a.glob("GRANULE/*/IMG_DATA/R20m/*_SCL_20m.jp2"))) == 1
    agreement = result.stdout.split("against the simulated truth", 1)[1].splitlines()[1:]
    assert agreement and all("% agree" in line for line in agreement)

    again = run(cli, "demo", "--output-dir", str(folder), "--size", "60", "--seed", "3")
    assert again.exit_code == 0, again.output  # the earlier demo results are replaced
    assert len(list(folder.glob("S2A_MSIL2A_*.SAFE"))) == 1


def test_incomplete_product_exits_2_and_leaves_nothing(shared_data: Path, out: Path) -> None:
    """A real metadata-only SAFE whose manifest names QI files that are absent."""
    safe = (
        shared_data / "metadata" / "s2reader"
        / "S2A_MSIL1C_20170226T102021_N0204_R065_T32TNM_20170226T102458.SAFE"
    )  # fmt: skip
    result = run(l2a_process, str(safe), "--output_dir", str(out), "--cr_only")
    assert result.exit_code == 2, result.output
    line = error_line(result)
    named = line.removeprefix("error: ").removesuffix(": file not found")
    assert named.startswith(f"{safe}/")
    assert not Path(named).exists()
    assert list(out.iterdir()) == []
