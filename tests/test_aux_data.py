"""AUX_ECMWFT / AUX_CAMSFO GRIB decoding on the real files of the operational L2A product."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ProductFormatError
from core.product.aux_data import DU_PER_KG_M2, read_aux, read_grib_fields

L2A = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


@pytest.fixture
def aux_files(shared_data):
    folders = list((shared_data / "l2a-real" / L2A / "GRANULE").glob("*/AUX_DATA"))
    assert len(folders) == 1
    return {p.name: str(p) for p in folders[0].iterdir()}


def test_ozone_matches_sen2cor_value(shared_data, aux_files):
    mtd = (shared_data / "l2a-real" / L2A / "MTD_MSIL2A.xml").read_text()
    sen2cor_ozone = float(re.search(r"<OZONE_VALUE>([\d.]+)<", mtd).group(1))  # 321.75 DU
    aux = read_aux(aux_files)
    assert aux is not None
    assert aux.ozone_du == pytest.approx(sen2cor_ozone, abs=0.05)
    # Physical plausibility of the other ECMWF fields (Ireland, October).
    assert 0.2 < aux.water_vapour_cm < 5.0
    assert 950.0 < aux.msl_hpa < 1050.0
    assert aux.aod550 is not None and 0.0 < aux.aod550 < 1.0
    assert {"tco3", "tcwv", "msl", "aod550", "aod865"} <= set(aux.means)
    assert aux.grids["tco3"].shape == (9, 9)


def test_dobson_factor():
    # 300 DU correspond to 6.428 g m-2 of ozone (Sen2Cor convention).
    assert pytest.approx(300.0) == 6.428e-3 * DU_PER_KG_M2


def test_no_aux_files_gives_none():
    assert read_aux({}) is None


def test_not_grib_is_refused(tmp_path):
    bad = tmp_path / "AUX_ECMWFT"
    bad.write_bytes(b"<html>not found</html>")
    with pytest.raises(ProductFormatError, match="AUX_ECMWFT: no GRIB message"):
        read_grib_fields(bad.read_bytes(), path=str(bad))


def test_truncated_grib_is_refused(aux_files, tmp_path):
    data = Path(aux_files["AUX_ECMWFT"]).read_bytes()
    with pytest.raises(ProductFormatError, match="AUX_ECMWFT"):
        read_grib_fields(data[:-10], path="AUX_ECMWFT")
