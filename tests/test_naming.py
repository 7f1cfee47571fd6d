"""L2A names against the names of real products (the T29UNU baseline-04.00 product and the
per-baseline SAFE layouts)."""

from __future__ import annotations

import csv
import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from l2a_fixtures import L2A_REAL

from core.errors import InputError
from core.io.xml import find_text_required, parse_xml_bytes
from core.product.metadata import L1CMetadata, ProcessingBaseline
from core.product.naming import CompactProductName, ProductNames, check_centre


def _l1c_of_real_l2a(safe: Path) -> L1CMetadata:
    """The identity of the L1C behind the real L2A product, read from that product's own
    metadata (L1C_TILE_ID, datatake, orbits); radiometry/geometry are irrelevant here."""
    product = parse_xml_bytes((safe / "MTD_MSIL2A.xml").read_bytes(), path="MTD_MSIL2A.xml")
    tile_path = next(safe.glob("GRANULE/*/MTD_TL.xml"))
    tile = parse_xml_bytes(tile_path.read_bytes(), path=str(tile_path))
    l1c_tile_id = find_text_required(tile, "General_Info/L1C_TILE_ID", source="MTD_TL")
    l2a_ds = find_text_required(tile, "General_Info/DATASTRIP_ID", source="MTD_TL")
    start = datetime.fromisoformat(
        find_text_required(product, "General_Info/Product_Info/PRODUCT_START_TIME", source="m")
    )
    datatake = product.find(".//Datatake")
    assert datatake is not None
    absolute = int(re.search(r"_A(\d{6})_", l1c_tile_id).group(1))  # type: ignore[union-attr]
    return L1CMetadata(
        product_uri="S2A_MSIL1C_20221005T115411_N0400_R023_T29UNU_20221005T134447.SAFE",
        mission_id="S2A",
        spacecraft_name="Sentinel-2A",
        processing_baseline=ProcessingBaseline(4, 0),
        product_start_time=start,
        product_stop_time=start,
        generation_time=start,
        datatake_sensing_start=start,
        sensing_time=start,
        tile_id="29UNU",
        relative_orbit=int(find_text_required(datatake, "SENSING_ORBIT_NUMBER", source="m")),
        absolute_orbit=absolute,
        datastrip_id=l2a_ds.replace("_L2A_", "_L1C_").replace("164454", "153022"),
        granule_id=l1c_tile_id,
        psd_version="14.9",
        quantification_value=10000.0,
        radio_add_offset={},
        u_earth_sun=1.0,
        solar_irradiance={},
    )


@pytest.fixture(scope="module")
def real_names(shared_data: Path) -> tuple[ProductNames, Path]:
    safe = shared_data / L2A_REAL
    names = ProductNames.l2a_from_l1c(
        _l1c_of_real_l2a(safe),
        generation_time=datetime(2022, 10, 5, 16, 44, 54, tzinfo=UTC),
        baseline=ProcessingBaseline(4, 0),
        centre="ATOS",
    )
    return names, safe


def test_product_granule_and_datastrip_names_match_the_real_product(real_names):
    names, safe = real_names
    assert names.product == safe.name
    assert [p.name for p in (safe / "GRANULE").iterdir()] == [names.granule]
    assert [p.name for p in (safe / "DATASTRIP").iterdir()] == [names.datastrip]


def test_long_ids_match_the_real_metadata(real_names):
    names, safe = real_names
    tile = (next(safe.glob("GRANULE/*/MTD_TL.xml"))).read_text()
    assert f">{names.tile_long_id}</TILE_ID>" in tile
    assert f">{names.datastrip_long_id}</DATASTRIP_ID>" in tile
    product = (safe / "MTD_MSIL2A.xml").read_text()
    assert (
        f'datatakeIdentifier="{names.datatake_identifier("GS2A_20221005T115411_038058_N04.00")}"'
        in product
    )


def test_image_stems_match_every_real_image_file(real_names):
    names, safe = real_names
    product = (safe / "MTD_MSIL2A.xml").read_text()
    real = re.findall(r"<IMAGE_FILE>([^<]+)</IMAGE_FILE>", product)
    assert len(real) == 36
    for entry in real:
        layer, res = re.search(r"_([A-Z0-9]{3})_(\d+)m$", entry).groups()  # type: ignore[union-attr]
        assert (
            entry == f"GRANULE/{names.granule}/IMG_DATA/R{res}m/{names.image_stem(layer, int(res))}"
        )
    assert (safe / "GRANULE" / names.granule / "QI_DATA" / f"{names.pvi_stem}.jp2").is_file()


def test_default_baseline_gives_n9999_and_n99_99_ids(real_names):
    names, _ = real_names
    dev = dataclasses.replace(names, baseline=ProcessingBaseline(99, 99))
    assert "_N9999_" in dev.product
    assert dev.tile_long_id.endswith("_N99.99")
    assert dev.datatake_identifier("GS2A_20221005T115411_038058_N04.00").endswith("_N99.99")


def test_every_compact_product_name_in_the_safe_layouts_parses(shared_data: Path):
    parsed = 0
    for layout in sorted((shared_data / "metadata" / "safe-layouts").glob("L2A_*.csv")):
        with layout.open() as stream:
            for _, safe_path in csv.reader(stream, delimiter=";"):
                name = safe_path.split("/", 1)[0]
                if not name.startswith("S2") or "_MSIL2A_" not in name or "_N" not in name:
                    continue
                fields = CompactProductName.parse(name)
                if "/GRANULE/" in safe_path:
                    granule = safe_path.split("/")[2]
                    assert granule.startswith(f"L2A_T{fields.tile_id}_A")
                assert name == (
                    f"{fields.mission_id}_MSIL2A_{fields.datatake_start}_"
                    f"{fields.processing_baseline.n_code}_R{fields.relative_orbit:03d}_"
                    f"T{fields.tile_id}_{fields.generation_time}.SAFE"
                )
                parsed += 1
    assert parsed > 100


def test_bad_names_and_centres_are_refused_with_the_culprit_named(shared_data: Path):
    with pytest.raises(InputError, match=r"S2A_MSIL2A_garbage\.SAFE"):
        CompactProductName.parse("S2A_MSIL2A_garbage.SAFE")
    with pytest.raises(InputError, match="processing centre"):
        ProductNames.l2a_from_l1c(
            _l1c_of_real_l2a(shared_data / L2A_REAL),
            generation_time=datetime(2022, 1, 1, tzinfo=UTC),
            baseline=ProcessingBaseline(4, 0),
            centre="toolong",
        )
    with pytest.raises(InputError, match="archiving centre"):
        check_centre("AB1", "archiving centre")
    assert check_centre("SC__", "archiving centre") == "SC__"
