"""Safe XML parsing for product metadata and GIPP files.

Sentinel-2 metadata is untrusted input: documents with a DTD, entity declarations (billion
laughs) or external entities (XXE) are refused, and so is any document above
:data:`MAX_XML_BYTES`. Parsing is done by ``defusedxml`` (the maintained guard around the
standard library parser); this module only adds the size cap and errors that name the file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Final

import defusedxml
from defusedxml import ElementTree as SafeET

from core.errors import ProductFormatError, UnsafeInputError

MAX_XML_BYTES: Final[int] = 64 * 1024 * 1024
"""Largest metadata file accepted (real MTD_TL.xml files are < 2 MB, MTD_DS.xml < 30 MB)."""


def parse_xml_bytes(data: bytes, *, path: str) -> ET.Element:
    """Parse ``data`` (the content of ``path``) and return the root element.

    Raises
    ------
    UnsafeInputError
        The document is too large or declares a DTD / entities.
    ProductFormatError
        The document is empty, truncated or not well-formed.
    """
    if len(data) > MAX_XML_BYTES:
        raise UnsafeInputError(
            f"XML document of {len(data)} bytes exceeds the {MAX_XML_BYTES}-byte limit", path=path
        )
    if not data.strip():
        raise ProductFormatError("XML document is empty", path=path)
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as err:
        raise UnsafeInputError(f"XML refused ({type(err).__name__}: {err})", path=path) from err
    except ET.ParseError as err:
        raise ProductFormatError(f"malformed XML ({err})", path=path) from err


def local_name(tag: str) -> str:
    """Return ``tag`` without its ``{namespace}`` prefix."""
    return tag.rsplit("}", 1)[-1]


def find(root: ET.Element, path: str) -> ET.Element | None:
    """Find the first element matching ``path`` (ElementTree syntax, namespace-agnostic).

    Sentinel-2 documents qualify only the root element; ``path`` is matched with the ``{*}``
    wildcard on every step so both qualified and unqualified children are found.
    """
    return root.find(_wildcard(path))


def findall(root: ET.Element, path: str) -> list[ET.Element]:
    """Find all elements matching ``path`` (namespace-agnostic, see :func:`find`)."""
    return root.findall(_wildcard(path))


def find_text(root: ET.Element, path: str) -> str | None:
    """Return the stripped text of the first match of ``path``, or ``None``."""
    node = find(root, path)
    if node is None or node.text is None:
        return None
    return node.text.strip()


def find_required(root: ET.Element, path: str, *, source: str) -> ET.Element:
    """Return the first match of ``path`` or raise :class:`ProductFormatError` naming ``source``."""
    node = find(root, path)
    if node is None:
        raise ProductFormatError(f"required element {path!r} is missing", path=source)
    return node


def find_text_required(root: ET.Element, path: str, *, source: str) -> str:
    """Return the text of the first match of ``path`` or raise :class:`ProductFormatError`."""
    text = find_text(root, path)
    if not text:
        raise ProductFormatError(f"required element {path!r} is missing or empty", path=source)
    return text


def _wildcard(path: str) -> str:
    steps = []
    for step in path.split("/"):
        if step in ("", ".", "..", "*") or step.startswith(("{", "@", "[")):
            steps.append(step)
        else:
            steps.append("{*}" + step)
    return "/".join(steps)
