"""DN <-> TOA reflectance against the ukis-pysat reference crops (real L1C pixels + their MTD)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import rasterio

from core.bands import BAND_NAMES
from core.io.xml import parse_xml_bytes
from core.product.l1c_mtd import parse_product_metadata
from core.radiometry import reflectance_to_dn, toa_reflectance

PRODUCTS = [
    "S2B_MSIL1C_20200406T101559_N0209_R065_T32UPC_20200406T130159",  # baseline 02.09, no offset
    "S2B_MSIL1C_20220615T101559_N0400_R065_T32UPC_20220615T122549",  # baseline 04.00, -1000
]
TOLERANCE = 1e-6
"""The reference stores float32 reflectance; one float32 ulp at 1.0 is 1.2e-7."""


@pytest.mark.parametrize("name", PRODUCTS)
def test_toa_matches_reference_crop(shared_data, name):
    folder = shared_data / "metadata" / "ukis-pysat" / "satellite_data"
    mtd_path = folder / f"{name}_MTD.xml"
    text = mtd_path.read_text()
    product = parse_product_metadata(
        parse_xml_bytes(text.encode(), path=str(mtd_path)), path=str(mtd_path)
    )
    # Independent reading of the radiometric constants from the XML text.
    offsets = {
        int(i): float(v)
        for i, v in re.findall(r'RADIO_ADD_OFFSET band_id="(\d+)">([-\d.]+)<', text)
    }
    quantification = float(re.search(r"<QUANTIFICATION_VALUE[^>]*>([\d.]+)<", text).group(1))
    assert product.quantification_value == quantification
    assert [product.radio_add_offset[b] for b in BAND_NAMES] == [
        offsets.get(i, 0.0) for i in range(13)
    ]
    assert (min(product.radio_add_offset.values()) == -1000.0) == ("N0400" in name)

    with (
        rasterio.open(folder / f"{name}.tif") as src,
        rasterio.open(folder / f"{name}_toa.tif") as ref,
    ):
        dn, expected = src.read(), ref.read()
    assert dn.shape[0] == len(BAND_NAMES) == expected.shape[0]
    for index, band in enumerate(BAND_NAMES):
        valid = (dn[index] > 0) & (dn[index] < 65535)
        assert valid.sum() > 0
        toa = toa_reflectance(
            dn[index], product.quantification_value, product.radio_add_offset[band]
        )
        assert toa.reflectance.dtype == np.float32
        np.testing.assert_allclose(toa.reflectance[valid], expected[index][valid], atol=TOLERANCE)


def test_flags_and_round_trip():
    dn = np.array([[0, 1, 1000, 11000, 65535]], dtype=np.uint16)
    toa = toa_reflectance(dn, 10000.0, -1000.0)
    assert toa.nodata.tolist() == [[True, False, False, False, False]]
    assert toa.saturated.tolist() == [[False, False, False, False, True]]
    assert np.isnan(toa.reflectance[0, 0])
    assert toa.reflectance[0, 2] == 0.0  # DN 1000 with offset -1000 is zero reflectance
    back = reflectance_to_dn(toa.reflectance, 10000.0, -1000.0, saturated=toa.saturated)
    assert back.dtype == np.uint16
    assert back.tolist() == dn.tolist()


def test_reflectance_to_dn_keeps_reserved_values():
    rho = np.array([np.nan, -0.5, 0.0, 0.1234, 10.0])
    dn = reflectance_to_dn(rho, 10000.0, 0.0)
    # NaN -> 0 (no-data); negative/zero clip to 1, huge clip to 65534: 0 and 65535 stay reserved.
    assert dn.tolist() == [0, 1, 1, 1234, 65534]
    assert reflectance_to_dn(np.array([0.0]), 10000.0, -1000.0).tolist() == [1000]
