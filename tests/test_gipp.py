"""GIPP configuration: our cfg files, Sen2Cor 2.8 user files, overrides and bad files.

Truth is the XML text itself, read here independently with the standard library parser: every
leaf value of a file must come out of :func:`core.config.gipp.load_gipp` unchanged, and the
real Sen2Cor 2.8 files (``../shared/data/sen2cor-2.8/cfg``) must load and win over our defaults.
"""

from __future__ import annotations

import dataclasses
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from core.config.gipp import CFG_DIR_ENV, FILE_NAMES, Gipp, cfg_dir, load_gipp, resolve_gipp_path
from core.errors import ConfigError, UnsafeInputError

REPEATED = {"PSD_Scheme", "fwhm", "wavelength", "Idp_Sc_List"}
"""Repeated elements, compared as lists in their own tests."""


def _leaves(element: ET.Element, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(tag path, text) of every non-repeated leaf element."""
    found = []
    for child in element:
        if child.tag in REPEATED:
            continue
        path = (*prefix, child.tag)
        if len(child):
            found.extend(_leaves(child, path))
        else:
            found.append((path, (child.text or "").strip()))
    return found


def _value(obj: Any, tags: tuple[str, ...]) -> Any:
    for tag in tags:
        obj = getattr(obj, tag.lower())
    return obj


def _same(text: str, value: Any) -> bool:
    if isinstance(value, bool):
        return text.upper() == ("TRUE" if value else "FALSE")
    if isinstance(value, int | float):
        return float(text) == pytest.approx(float(value), abs=0)
    return text == value


def _assert_file_loaded(gipp: Gipp, group: str, path: Path) -> int:
    root = ET.parse(path).getroot()
    leaves = _leaves(root)
    for tags, text in leaves:
        value = _value(getattr(gipp, group), tags)
        assert _same(text, value), f"{path.name}: {'/'.join(tags)} = {text!r}, loaded {value!r}"
    return len(leaves)


@pytest.fixture
def sen2cor_cfg(shared_data: Path) -> Path:
    return shared_data / "sen2cor-2.8" / "cfg"


def test_our_cfg_loads_every_key_of_our_files() -> None:
    gipp = load_gipp()
    counts = {g: _assert_file_loaded(gipp, g, cfg_dir() / name) for g, name in FILE_NAMES.items()}
    # every file contributes (SC: 4 references + 12 classes + 43 thresholds + extension block)
    assert counts["sc"] > 59
    assert counts["l2a"] > 30
    assert len(gipp.ac.sensor.resolution.band_list.fwhm) == 13
    assert len(gipp.ac.sensor.calibration.band_list.wavelength) == 13
    assert [s.psd_version for s in gipp.l2a.common_section.psd_scheme][-1] == "14.9"


def test_sen2cor_28_user_files_load_and_override_ours(sen2cor_cfg: Path) -> None:
    files = {g: sen2cor_cfg / name for g, name in FILE_NAMES.items()}
    user: dict[str, Any] = {g: str(p) for g, p in files.items()}
    gipp = load_gipp(**user)
    for group, path in files.items():
        assert _assert_file_loaded(gipp, group, path) > 0

    # repeated elements come from the user file too
    root = ET.parse(files["ac"]).getroot()
    wavelengths = root.findall("Sensor/Calibration/Band_List/wavelength")
    loaded = gipp.ac.sensor.calibration.band_list.wavelength
    assert [(float(w.text or ""), float(w.get("c1", ""))) for w in wavelengths] == [
        (w.value, w.c1) for w in loaded
    ]
    l2a_root = ET.parse(files["l2a"]).getroot()
    assert [s.get("PSD_Version") for s in l2a_root.iter("PSD_Scheme")] == [
        s.psd_version for s in gipp.l2a.common_section.psd_scheme
    ]

    # keys the 2.8 file lacks (2.10+) keep our values
    ours = load_gipp()
    assert gipp.l2a.common_section.region_of_interest == ours.l2a.common_section.region_of_interest
    assert gipp.sc.scene_classification.classic_constants == (
        ours.sc.scene_classification.classic_constants
    )


def test_user_file_values_differ_from_ours_and_win(sen2cor_cfg: Path) -> None:
    """Where Sen2Cor 2.8 and our (2.10+) defaults differ, the user file decides."""
    user_text = (sen2cor_cfg / "L2A_CAL_SC_GIPP.xml").read_text()
    ours = load_gipp()
    user = load_gipp(sc=str(sen2cor_cfg / "L2A_CAL_SC_GIPP.xml"))
    ours_dir = ours.sc.scene_classification.references.esacci_snowcondition_map_dir
    user_dir = user.sc.scene_classification.references.esacci_snowcondition_map_dir
    assert ours_dir != user_dir
    assert f"<ESACCI_SnowCondition_Map_Dir>{user_dir}<" in user_text


def test_cfg_files_validate_against_sen2cor_xsd(sen2cor_cfg: Path, tmp_path: Path) -> None:
    """Our files follow Sen2Cor's schema; only the documented additions are removed first."""
    xmlschema = pytest.importorskip("xmlschema")
    additions = {
        "l2a": [
            "Common_Section/Region_Of_Interest",
            "Common_Section/Product_DOI",
            "Common_Section/Product_Generator",
            "Common_Section/PSD_Version",
            "Common_Section/Force_Exit_On_DEM_Error",
            "Common_Section/Handle_L1C_QLT_Mask",
        ],
        "sc": ["Scene_Classification/Classic_Constants", "Scene_Classification/Default_Mode"],
        "ac": ["Classic_Constants"],
        "pb": [],
    }
    for group, name in FILE_NAMES.items():
        tree = ET.parse(cfg_dir() / name)
        for xpath in additions[group]:
            parent_path, _, tag = xpath.rpartition("/")
            parent = tree.getroot().find(parent_path) if parent_path else tree.getroot()
            assert parent is not None
            child = parent.find(tag)
            assert child is not None, f"{name}: documented addition {xpath} is missing"
            parent.remove(child)
        stripped = tmp_path / name
        tree.write(stripped)
        schema = xmlschema.XMLSchema(str(sen2cor_cfg / name.replace(".xml", ".xsd")))
        schema.validate(str(stripped))


def test_resolve_gipp_path_like_sen2cor(tmp_path: Path) -> None:
    absolute = str(tmp_path / "my.xml")
    assert resolve_gipp_path(absolute) == absolute
    assert resolve_gipp_path("s3://bucket/cfg.xml") == "s3://bucket/cfg.xml"
    assert resolve_gipp_path("L2A_GIPP_user.xml", tmp_path) == str(tmp_path / "L2A_GIPP_user.xml")


def test_cfg_dir_from_environment_and_names_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in FILE_NAMES.values():
        shutil.copy(cfg_dir() / name, tmp_path / name)
    user = (
        (cfg_dir() / "L2A_GIPP.xml")
        .read_text()
        .replace("<Visibility>40.0</Visibility>", "<Visibility>23.0</Visibility>")
    )
    (tmp_path / "L2A_GIPP_hazy.xml").write_text(user)
    monkeypatch.setenv(CFG_DIR_ENV, str(tmp_path))
    assert cfg_dir() == tmp_path
    gipp = load_gipp(l2a="L2A_GIPP_hazy.xml")
    assert gipp.l2a.atmospheric_correction.calibration.visibility == 23.0


def test_overrides_come_last(sen2cor_cfg: Path) -> None:
    gipp = load_gipp(
        l2a=str(sen2cor_cfg / "L2A_GIPP.xml"),
        overrides={
            "l2a.atmospheric_correction.look_up_tables.ozone_content": 377,
            "l2a.common_section.generate_tci_output": False,
            "pb.data.baseline_version": "05.11",
        },
    )
    assert gipp.l2a.atmospheric_correction.look_up_tables.ozone_content == 377
    assert gipp.l2a.common_section.generate_tci_output is False
    assert gipp.pb.data.baseline_version == "05.11"


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("l2a.atmospheric_correction.look_up_tables.ozone_content", 300, "one of"),
        ("l2a.atmospheric_correction.calibration.visibility", 150, "range"),
        ("l2a.common_section.no_such_key", 1, "unknown key"),
        ("l2a.common_section.psd_scheme", "x", "single values"),
    ],
)
def test_bad_override_is_a_config_error(key: str, value: Any, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        load_gipp(overrides={key: value})
    assert caught.value.path == "<override>"
    assert caught.value.key == key


# (group, text in the Sen2Cor 2.8 file, replacement, key named in the error, words of the problem)
BAD_FILES = [
    (
        "l2a",
        "<Median_Filter>0</Median_Filter>",
        "<Median_Filter>0</Median_Filter><Foo>1</Foo>",
        "Scene_Classification/Filters/Foo",
        "unknown key",
    ),
    (
        "l2a",
        "<Visibility>40.0</Visibility>",
        "<Visibility>forty</Visibility>",
        "Atmospheric_Correction/Calibration/Visibility",
        "not a number",
    ),
    (
        "l2a",
        "<Visibility>40.0</Visibility>",
        "<Visibility>121</Visibility>",
        "Atmospheric_Correction/Calibration/Visibility",
        "outside the range [5.0, 120.0]",
    ),
    (
        "l2a",
        "<BRDF_Lower_Bound>0.22</BRDF_Lower_Bound>",
        "<BRDF_Lower_Bound>0.3</BRDF_Lower_Bound>",
        "Atmospheric_Correction/Flags/BRDF_Lower_Bound",
        "outside the range",
    ),
    (
        "l2a",
        "<Median_Filter>0</Median_Filter>",
        "<Median_Filter>11</Median_Filter>",
        "Scene_Classification/Filters/Median_Filter",
        "outside the range",
    ),
    (
        "l2a",
        "<Median_Filter>0</Median_Filter>",
        "<Median_Filter>1.5</Median_Filter>",
        "Scene_Classification/Filters/Median_Filter",
        "not an integer",
    ),
    (
        "l2a",
        "<Nr_Threads>AUTO</Nr_Threads>",
        "<Nr_Threads>9</Nr_Threads>",
        "Common_Section/Nr_Threads",
        "outside the range [1, 8]",
    ),
    (
        "l2a",
        "<Ozone_Content>331</Ozone_Content>",
        "<Ozone_Content>300</Ozone_Content>",
        "Atmospheric_Correction/Look_Up_Tables/Ozone_Content",
        "one of 0, 250",
    ),
    (
        "l2a",
        "<Aerosol_Type>RURAL</Aerosol_Type>",
        "<Aerosol_Type>DESERT</Aerosol_Type>",
        "Atmospheric_Correction/Look_Up_Tables/Aerosol_Type",
        "one of RURAL",
    ),
    (
        "l2a",
        "<Generate_TCI_Output>TRUE</Generate_TCI_Output>",
        "<Generate_TCI_Output>YES</Generate_TCI_Output>",
        "Common_Section/Generate_TCI_Output",
        "TRUE or FALSE",
    ),
    (
        "l2a",
        "<Visibility>40.0</Visibility>",
        "<Visibility>40.0</Visibility><Visibility>9</Visibility>",
        "Atmospheric_Correction/Calibration/Visibility",
        "more than once",
    ),
    (
        "sc",
        "<T1_B02>0.18</T1_B02>",
        "<T1_B02>10.5</T1_B02>",
        "Scene_Classification/Thresholds/T1_B02",
        "outside the range [-10.0, 10.0]",
    ),
    (
        "sc",
        "<WATER>6</WATER>",
        "<WATER>7</WATER>",
        "Scene_Classification/Classificators/WATER",
        "one of 6",
    ),
    (
        "ac",
        "<min_sc_blu>0.9</min_sc_blu>",
        "<min_sc_blu>1.0</min_sc_blu>",
        "Sensor/Calibration/min_sc_blu",
        "open range",
    ),
    (
        "ac",
        "<fwhm>0.180</fwhm>",
        "",
        "Sensor/Resolution/Band_List/fwhm",
        "expected 13 values, found 12",
    ),
    (
        "ac",
        'c1="0.001">0.443',
        'c1="2">0.443',
        "Sensor/Calibration/Band_List/wavelength/@c1",
        "outside the range",
    ),
    (
        "pb",
        "<Baseline_Version>99.99</Baseline_Version>",
        "<Baseline_Version>9.9</Baseline_Version>",
        "DATA/Baseline_Version",
        "does not match",
    ),
    (
        "pb",
        "<GS2_PROCESSING_BASELINE_PARAMETERS",
        "<GS2_PROCESSING_BASELINE",
        "GS2_PROCESSING_BASELINE",
        "root element",
    ),
]


@pytest.mark.parametrize(("group", "old", "new", "key", "problem"), BAD_FILES)
def test_bad_user_file_names_file_and_key(
    sen2cor_cfg: Path, tmp_path: Path, group: str, old: str, new: str, key: str, problem: str
) -> None:
    name = FILE_NAMES[group]
    text = (sen2cor_cfg / name).read_text()
    assert old in text
    if group == "pb" and "root" in problem:
        text = text.replace("</GS2_PROCESSING_BASELINE_PARAMETERS>", "</GS2_PROCESSING_BASELINE>")
    bad = tmp_path / name
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        user: dict[str, Any] = {group: str(bad)}
        load_gipp(**user)
    error = caught.value
    assert error.path == str(bad)
    assert error.key == key
    message = str(error)
    assert message.startswith(f"{bad}: {key}: ")
    assert problem in message
    assert "\n" not in message


def test_malformed_and_missing_files_are_config_errors(sen2cor_cfg: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "L2A_GIPP.xml"
    truncated.write_text((sen2cor_cfg / "L2A_GIPP.xml").read_text()[:500])
    with pytest.raises(ConfigError, match="malformed XML") as caught:
        load_gipp(l2a=str(truncated))
    assert caught.value.path == str(truncated)

    missing = str(tmp_path / "absent.xml")
    with pytest.raises(ConfigError, match="not found") as caught:
        load_gipp(l2a=missing)
    assert caught.value.path == missing


def test_dtd_and_entities_are_refused(sen2cor_cfg: Path, tmp_path: Path) -> None:
    text = (sen2cor_cfg / "L2A_GIPP.xml").read_text()
    hostile = text.replace(
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY lol "lol">]>',
    ).replace("<Log_Level>INFO</Log_Level>", "<Log_Level>&lol;</Log_Level>")
    bad = tmp_path / "L2A_GIPP.xml"
    bad.write_text(hostile)
    with pytest.raises(UnsafeInputError) as caught:
        load_gipp(l2a=str(bad))
    assert caught.value.path == str(bad)


def test_gipp_objects_are_frozen() -> None:
    gipp = load_gipp()
    with pytest.raises(dataclasses.FrozenInstanceError):
        gipp.sc.scene_classification.thresholds.t1_b02 = 0.5  # type: ignore[misc]
