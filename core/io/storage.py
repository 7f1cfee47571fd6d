"""Access to product files by URI: local paths, ``s3://bucket/key`` and zip members.

Reading is the common case; :func:`put_file` writes a finished local file to a folder or bucket.
A zip member is addressed as ``zip://<member>::<archive URI>`` (the fsspec chaining syntax), so
``zip://S2A_X.SAFE/MTD_MSIL1C.xml::s3://bucket/S2A_X.zip`` works like a local file. Listings and
small files (metadata XML, GRIB, GML) go through this module; rasters are read by GDAL through
:func:`gdal_path` (``/vsis3/``, ``/vsizip/``, ``/vsizip//vsis3/``).

Archives are untrusted: before any member is read the whole central directory is checked and an
archive with a member that escapes the archive (``..``, absolute path, drive letter), a symbolic
link, or declared sizes that look like a zip bomb is refused with :class:`UnsafeInputError`.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import zipfile
from functools import cache
from pathlib import Path
from typing import IO, Final

import s3fs

from core.errors import InputError, OutputError, ProductFormatError, UnsafeInputError

DEFAULT_MAX_BYTES: Final[int] = 64 * 1024 * 1024
"""Default cap of :func:`read_bytes` (the largest metadata file, MTD_DS.xml, is < 30 MB)."""
MAX_ZIP_MEMBERS: Final[int] = 100_000
"""A full L1C SAFE holds about 150 files; far more is hostile."""
MAX_ZIP_TOTAL_BYTES: Final[int] = 16 * 1024**3
"""Declared uncompressed total of an archive (a full L1C is about 1 GB)."""
MAX_ZIP_RATIO: Final[float] = 200.0
"""Largest accepted uncompressed/compressed ratio of a member (XML compresses about 10x)."""
_RATIO_MIN_BYTES: Final[int] = 1024 * 1024
"""Members smaller than this are never refused for their ratio."""

ZIP_PREFIX: Final[str] = "zip://"
S3_PREFIX: Final[str] = "s3://"


def s3_endpoint_url() -> str | None:
    """Custom S3 endpoint from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (moto, MinIO)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def is_s3(uri: str) -> bool:
    """True for ``s3://`` URIs."""
    return uri.startswith(S3_PREFIX)


def is_zip_member(uri: str) -> bool:
    """True for ``zip://member::archive`` URIs."""
    return uri.startswith(ZIP_PREFIX)


def zip_member_uri(archive: str, member: str) -> str:
    """Return the URI of ``member`` inside ``archive``."""
    return f"{ZIP_PREFIX}{member.strip('/')}::{archive}"


def split_zip_uri(uri: str) -> tuple[str, str]:
    """Split ``zip://member::archive`` into ``(archive, member)``."""
    body = uri[len(ZIP_PREFIX) :]
    member, sep, archive = body.partition("::")
    if not sep or not archive:
        raise InputError(f"not a zip member URI (expected zip://member::archive): {uri!r}")
    return archive, member.strip("/")


def join(base: str, *parts: str) -> str:
    """Join relative ``parts`` (``./GRANULE/x``) onto ``base``; refuse ``..`` and absolute parts."""
    rel = posixpath.normpath(posixpath.join(*(p.replace("\\", "/") for p in parts)))
    if rel.startswith(("/", "..")) or rel == ".":
        raise UnsafeInputError(f"relative path {'/'.join(parts)!r} escapes the product", path=base)
    if is_zip_member(base):
        archive, member = split_zip_uri(base)
        return zip_member_uri(archive, posixpath.join(member, rel) if member else rel)
    if is_s3(base):
        return posixpath.join(base.rstrip("/"), rel)
    return str(Path(base) / rel)


def parent(uri: str) -> str:
    """The folder containing ``uri`` (a member prefix for zip URIs)."""
    if is_zip_member(uri):
        archive, member = split_zip_uri(uri)
        return zip_member_uri(archive, posixpath.dirname(member))
    return posixpath.dirname(uri.rstrip("/")) if is_s3(uri) else str(Path(uri).parent)


def basename(uri: str) -> str:
    """Last path component of ``uri`` (of the member for zip URIs)."""
    if is_zip_member(uri):
        uri = split_zip_uri(uri)[1]
    return posixpath.basename(uri.rstrip("/").replace("\\", "/"))


@cache
def s3_filesystem(endpoint_url: str | None = None) -> s3fs.S3FileSystem:
    """An s3fs filesystem for ``endpoint_url`` (credentials from the usual boto chain).

    ``AWS_REQUEST_PAYER=requester`` (GDAL's variable, set for the public L1C bucket) makes the
    reads requester-pays for s3fs too.
    """
    client_kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    return s3fs.S3FileSystem(
        client_kwargs=client_kwargs,
        use_listings_cache=False,
        requester_pays=os.environ.get("AWS_REQUEST_PAYER", "").lower() == "requester",
    )


def _s3() -> s3fs.S3FileSystem:
    return s3_filesystem(s3_endpoint_url())


def _open_binary(uri: str) -> IO[bytes]:
    """Open a local or S3 object for reading (not a zip member)."""
    try:
        if is_s3(uri):
            return _s3().open(uri, "rb")
        return open(uri, "rb")
    except FileNotFoundError as err:
        raise ProductFormatError("file not found", path=uri) from err
    except (IsADirectoryError, PermissionError) as err:
        raise ProductFormatError(f"cannot be read ({err.strerror})", path=uri) from err


def check_zip(archive: zipfile.ZipFile, *, path: str) -> None:
    """Refuse archives with escaping members, symbolic links or zip-bomb sizes.

    Raises
    ------
    UnsafeInputError
        Naming ``path`` and the offending member.
    """
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise UnsafeInputError(
            f"archive has {len(infos)} members (limit {MAX_ZIP_MEMBERS})", path=path
        )
    total = 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = name.split("/")
        if name.startswith("/") or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise UnsafeInputError(f"member {info.filename!r} escapes the archive", path=path)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeInputError(f"member {info.filename!r} is a symbolic link", path=path)
        total += info.file_size
        if info.file_size >= _RATIO_MIN_BYTES and info.file_size > MAX_ZIP_RATIO * max(
            info.compress_size, 1
        ):
            raise UnsafeInputError(
                f"member {info.filename!r} expands {info.file_size} bytes from "
                f"{info.compress_size} (ratio limit {MAX_ZIP_RATIO:g}; zip bomb?)",
                path=path,
            )
    if total > MAX_ZIP_TOTAL_BYTES:
        raise UnsafeInputError(
            f"archive declares {total} uncompressed bytes (limit {MAX_ZIP_TOTAL_BYTES})", path=path
        )


def _open_zip(archive_uri: str) -> tuple[IO[bytes], zipfile.ZipFile]:
    handle = _open_binary(archive_uri)
    try:
        archive = zipfile.ZipFile(handle)
    except zipfile.BadZipFile as err:
        handle.close()
        raise ProductFormatError(f"not a valid zip archive ({err})", path=archive_uri) from err
    try:
        check_zip(archive, path=archive_uri)
    except UnsafeInputError:
        archive.close()
        handle.close()
        raise
    return handle, archive


def zip_names(archive_uri: str) -> list[str]:
    """Names of every member of ``archive_uri``, after :func:`check_zip`."""
    handle, archive = _open_zip(archive_uri)
    with handle, archive:
        return [info.filename for info in archive.infolist()]


def read_bytes(uri: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Return the content of ``uri``; refuse files larger than ``max_bytes``.

    Raises
    ------
    ProductFormatError
        The file does not exist or cannot be read.
    UnsafeInputError
        The file (or its declared size in an archive) exceeds ``max_bytes``; hostile archive.
    """
    if is_zip_member(uri):
        archive_uri, member = split_zip_uri(uri)
        handle, archive = _open_zip(archive_uri)
        with handle, archive:
            try:
                info = archive.getinfo(member)
            except KeyError as err:
                raise ProductFormatError("file not found in the archive", path=uri) from err
            if info.file_size > max_bytes:
                raise UnsafeInputError(
                    f"declared size {info.file_size} exceeds the {max_bytes}-byte limit", path=uri
                )
            with archive.open(info) as member_file:
                data = member_file.read(max_bytes + 1)
    else:
        with _open_binary(uri) as handle:
            data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeInputError(f"file exceeds the {max_bytes}-byte limit", path=uri)
    return data


def exists(uri: str) -> bool:
    """True if ``uri`` names an existing file or folder (a zip member or member prefix)."""
    if is_zip_member(uri):
        archive_uri, member = split_zip_uri(uri)
        if not exists(archive_uri):
            return False
        names = zip_names(archive_uri)
        return any(n.rstrip("/") == member or n.startswith(member + "/") for n in names)
    if is_s3(uri):
        return bool(_s3().exists(uri))
    return Path(uri).exists()


def is_dir(uri: str) -> bool:
    """True if ``uri`` is a folder (an S3 prefix, a zip member prefix)."""
    if is_zip_member(uri):
        archive_uri, member = split_zip_uri(uri)
        return any(n.startswith(member + "/") for n in zip_names(archive_uri))
    if is_s3(uri):
        return bool(_s3().isdir(uri))
    return Path(uri).is_dir()


def listdir(uri: str) -> list[str]:
    """Sorted names (not paths) of the direct children of the folder ``uri``.

    Raises
    ------
    ProductFormatError
        ``uri`` is not an existing folder.
    """
    if is_zip_member(uri):
        archive_uri, member = split_zip_uri(uri)
        prefix = f"{member}/" if member else ""
        names = zip_names(archive_uri)
        children = {
            n[len(prefix) :].split("/", 1)[0]
            for n in names
            if n.startswith(prefix) and len(n) > len(prefix)
        }
        if not children and prefix not in names:  # an empty folder is stored as "name/"
            raise ProductFormatError("folder not found in the archive", path=uri)
        return sorted(children)
    if is_s3(uri):
        try:
            entries = _s3().ls(uri.rstrip("/"), detail=False)
        except FileNotFoundError as err:
            raise ProductFormatError("folder not found", path=uri) from err
        return sorted(posixpath.basename(e.rstrip("/")) for e in entries)
    try:
        return sorted(p.name for p in Path(uri).iterdir())
    except (FileNotFoundError, NotADirectoryError) as err:
        raise ProductFormatError("folder not found", path=uri) from err


def gdal_path(uri: str) -> str:
    """The GDAL virtual-file path of ``uri``: ``/vsis3/...``, ``/vsizip/...`` or the local path.

    Examples
    --------
    >>> gdal_path("s3://b/k/B01.jp2")
    '/vsis3/b/k/B01.jp2'
    >>> gdal_path("zip://P.SAFE/B01.jp2::s3://b/P.zip")
    '/vsizip//vsis3/b/P.zip/P.SAFE/B01.jp2'
    """
    if is_zip_member(uri):
        archive_uri, member = split_zip_uri(uri)
        archive = gdal_path(archive_uri)
        if not archive.startswith("/"):
            archive = str(Path(archive).resolve())
        return f"/vsizip/{archive}/{member}"
    if is_s3(uri):
        return "/vsis3/" + uri[len(S3_PREFIX) :]
    return uri


def put_file(local_path: str | Path, uri: str, *, content_type: str | None = None) -> str:
    """Copy the local file ``local_path`` to ``uri`` (a local path or an ``s3://`` key).

    Raises
    ------
    OutputError
        The copy failed (naming ``uri``).
    """
    try:
        if is_s3(uri):
            extra = {"ContentType": content_type} if content_type else {}
            _s3().put_file(str(local_path), uri, **extra)
        else:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(local_path, uri)
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot write ({err})", path=uri) from err
    return uri


def write_bytes(data: bytes, uri: str, *, content_type: str | None = None) -> str:
    """Write ``data`` to ``uri`` (a local path or an ``s3://`` key).

    Raises
    ------
    OutputError
        The write failed (naming ``uri``).
    """
    try:
        if is_s3(uri):
            extra = {"ContentType": content_type} if content_type else {}
            _s3().pipe_file(uri, data, **extra)
        else:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            Path(uri).write_bytes(data)
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot write ({err})", path=uri) from err
    return uri


def get_file(uri: str, local_path: str | Path) -> Path:
    """Copy ``uri`` (a local path or an ``s3://`` key) to the local file ``local_path``.

    Raises
    ------
    ProductFormatError
        ``uri`` does not exist or cannot be read.
    """
    try:
        if is_s3(uri):
            _s3().get_file(uri, str(local_path))
        else:
            shutil.copyfile(uri, local_path)
    except FileNotFoundError as err:
        raise ProductFormatError("file not found", path=uri) from err
    except OSError as err:
        raise ProductFormatError(f"cannot be read ({err})", path=uri) from err
    return Path(local_path)
