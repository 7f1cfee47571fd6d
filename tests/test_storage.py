"""URI storage: real S3 through moto's HTTP server, zipped products, hostile archives."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import boto3
import numpy as np
import pytest
from l1c_helpers import build_mini_safe, zip_safe
from rasterio.io import MemoryFile
from rasterio.windows import Window

from core.errors import ProductFormatError, UnsafeInputError
from core.io import storage
from core.io.raster import gdal_env, open_raster
from core.product.l1c import open_l1c

BUCKET = "l1c-input"


@pytest.fixture
def s3_endpoint(aws_endpoint: str) -> str:
    """The session's moto server, with the input bucket."""
    boto3.client("s3", endpoint_url=aws_endpoint).create_bucket(Bucket=BUCKET)
    return aws_endpoint


def _upload(endpoint: str, root: Path, prefix: str) -> None:
    client = boto3.client("s3", endpoint_url=endpoint)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.upload_file(
                str(path), BUCKET, f"{prefix}/{path.relative_to(root.parent).as_posix()}"
            )


def test_safe_on_s3_reads_toa_window_via_vsis3(shared_data, tmp_path, s3_endpoint):
    safe = build_mini_safe(shared_data, tmp_path)
    _upload(s3_endpoint, safe, "inbox")
    uri = f"s3://{BUCKET}/inbox/{safe.name}"
    assert storage.exists(uri) and "MTD_MSIL1C.xml" in storage.listdir(uri)
    remote = open_l1c(uri)
    local = open_l1c(str(safe))
    assert remote.files.bands["B02"].startswith(f"s3://{BUCKET}/inbox/")
    assert storage.gdal_path(remote.files.bands["B02"]).startswith(f"/vsis3/{BUCKET}/inbox/")
    assert remote.metadata.tile_id == local.metadata.tile_id
    window = Window(10, 20, 30, 15)
    toa_remote = remote.read_toa("B02", 20, window)
    toa_local = local.read_toa("B02", 20, window)
    np.testing.assert_array_equal(toa_remote.reflectance, toa_local.reflectance)
    np.testing.assert_array_equal(toa_remote.nodata, toa_local.nodata)


def _geotiff_bytes(size: int, value: int) -> bytes:
    with MemoryFile() as memory:
        with memory.open(driver="GTiff", width=size, height=size, count=1, dtype="uint16") as dst:
            dst.write(np.full((1, size, size), value, dtype="uint16"))
        return bytes(memory.read())


def test_a_replaced_object_is_read_anew_in_a_warm_process(s3_endpoint, monkeypatch):
    """A warm container must not read a re-uploaded product from GDAL's /vsis3/ cache: the
    second read sees the new size and pixels (the test run's own no-cache setting is lifted)."""
    monkeypatch.delenv("CPL_VSIL_CURL_NON_CACHED", raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    uri = f"s3://{BUCKET}/replaced/B02.tif"
    for size, value in ((8, 100), (16, 200)):
        client.put_object(Bucket=BUCKET, Key="replaced/B02.tif", Body=_geotiff_bytes(size, value))
        with gdal_env(s3_endpoint), open_raster(uri) as src:
            pixels = src.read(1)
        assert pixels.shape == (size, size)
        assert (pixels == value).all()


def test_zipped_safe_on_s3_via_vsizip_vsis3(shared_data, tmp_path, s3_endpoint):
    safe = build_mini_safe(shared_data, tmp_path)
    archive = zip_safe(safe, tmp_path / f"{safe.stem}.zip")
    boto3.client("s3", endpoint_url=s3_endpoint).upload_file(str(archive), BUCKET, "zips/p.zip")
    product = open_l1c(f"s3://{BUCKET}/zips/p.zip")
    band = product.files.bands["B12"]
    assert storage.gdal_path(band).startswith(f"/vsizip//vsis3/{BUCKET}/zips/p.zip/")
    np.testing.assert_array_equal(
        product.read_dn("B12", 60, Window(1, 1, 5, 5)),
        open_l1c(str(safe)).read_dn("B12", 60, Window(1, 1, 5, 5)),
    )


def test_read_bytes_limits_and_missing(tmp_path):
    path = tmp_path / "a.xml"
    path.write_bytes(b"x" * 100)
    assert storage.read_bytes(str(path)) == b"x" * 100
    with pytest.raises(UnsafeInputError, match=r"a\.xml: file exceeds the 10-byte limit"):
        storage.read_bytes(str(path), max_bytes=10)
    with pytest.raises(ProductFormatError, match=r"missing\.xml: file not found"):
        storage.read_bytes(str(tmp_path / "missing.xml"))
    with pytest.raises(UnsafeInputError, match="escapes"):
        storage.join(str(tmp_path), "../etc/passwd")


def _hostile(tmp_path: Path, kind: str) -> Path:
    archive = tmp_path / f"{kind}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("P.SAFE/MTD_MSIL1C.xml", "<a/>")
        if kind == "traversal":
            zf.writestr("P.SAFE/../../evil.txt", "x")
        elif kind == "absolute":
            zf.writestr("/etc/evil.txt", "x")
        elif kind == "symlink":
            info = zipfile.ZipInfo("P.SAFE/link")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        elif kind == "bomb":
            zf.writestr("P.SAFE/bomb.bin", b"\0" * (64 * 1024 * 1024))
    return archive


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("traversal", "escapes the archive"),
        ("absolute", "escapes the archive"),
        ("symlink", "symbolic link"),
        ("bomb", "zip bomb"),
    ],
)
def test_hostile_zips_are_refused(tmp_path, kind, message):
    archive = _hostile(tmp_path, kind)
    with pytest.raises(UnsafeInputError, match=message) as info:
        open_l1c(str(archive))
    assert str(archive) in str(info.value)


def test_zip_member_uris_and_listing(tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("P.SAFE/GRANULE/G/MTD_TL.xml", "<a/>")
        zf.writestr("P.SAFE/MTD_MSIL1C.xml", "<b/>")
        zf.writestr("P.SAFE/rep_info/", "")  # an empty folder, stored as its own entry
    base = storage.zip_member_uri(str(archive), "P.SAFE")
    assert storage.listdir(base) == ["GRANULE", "MTD_MSIL1C.xml", "rep_info"]
    assert storage.listdir(storage.join(base, "rep_info")) == []
    with pytest.raises(ProductFormatError, match="folder not found"):
        storage.listdir(storage.join(base, "absent"))
    assert storage.is_dir(storage.join(base, "GRANULE"))
    assert storage.read_bytes(storage.join(base, "./GRANULE/G/MTD_TL.xml")) == b"<a/>"
    assert not storage.exists(storage.join(base, "nothing.xml"))
    assert (
        storage.gdal_path(storage.join(base, "MTD_MSIL1C.xml"))
        == f"/vsizip/{archive}/P.SAFE/MTD_MSIL1C.xml"
    )
