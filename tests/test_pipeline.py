"""``core.pipeline``: Sen2Cor resolution rules and the refusals made before any I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config.gipp import load_gipp
from core.config.options import ProcessingOptions
from core.errors import InputError, NotAvailableError
from core.pipeline import output_resolutions, process_product


@pytest.mark.parametrize(
    ("resolution", "downsample", "expected"),
    [
        (None, True, (10, 20, 60)),  # 20 m, 10 m, and 60 m by downsampling the 20 m results
        (None, False, (10, 20)),
        (10, True, (10, 20, 60)),  # 10 m needs the 20 m run first
        (20, True, (20, 60)),
        (20, False, (20,)),
        (60, True, (60,)),  # native 60 m, no downsampling
        (60, False, (60,)),
    ],
)
def test_output_resolutions_follow_sen2cor(
    resolution: int | None, downsample: bool, expected: tuple[int, ...]
) -> None:
    assert output_resolutions(resolution, downsample) == expected


def test_pdgs_modes_are_refused_before_reading(tmp_path: Path) -> None:
    options = ProcessingOptions(
        mode="process_tile",
        datastrip=str(tmp_path / "DS"),
        tile=str(tmp_path / "TL"),
        work_dir=str(tmp_path / "work"),
        output_dir=str(tmp_path / "out"),
    )
    with pytest.raises(NotAvailableError, match="process_tile"):
        process_product("", options, load_gipp())
    assert list(tmp_path.iterdir()) == []


def test_remote_input_needs_an_output_folder() -> None:
    uri = "s3://bucket/S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE"
    steps: list[tuple[float, str]] = []
    with pytest.raises(InputError, match="output folder is required") as caught:
        process_product(
            uri,
            ProcessingOptions(input_dir=uri, cr_only=True),
            load_gipp(),
            lambda fraction, step: steps.append((fraction, step)),
        )
    assert caught.value.path == uri
    assert steps == []  # refused before anything was read


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "S2A_MSIL1C_20210908T042701_N0301_R133_T46RER_20210908T070248.SAFE")
    with pytest.raises(InputError) as caught:
        process_product(missing, ProcessingOptions(input_dir=missing), load_gipp())
    assert caught.value.path == missing
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("fields", "option"),
    [
        ({"resolution": 30}, "--resolution"),
        ({"mode": "fast"}, "--mode"),
        ({"processing_centre": "sgs_"}, "--processing_centre"),
        ({"processing_baseline": "5.11"}, "--processing_baseline"),
        ({}, "--mode"),  # TOOLBOX without input_dir
    ],
)
def test_processing_options_refuse_bad_values(fields: dict[str, object], option: str) -> None:
    with pytest.raises(InputError) as caught:
        ProcessingOptions(**fields)  # type: ignore[arg-type]
    assert caught.value.path == option
