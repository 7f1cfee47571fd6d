"""The cloud-native L2A product of one scene: COG assets, visual COG, thumbnail, STAC item.

CONTRACT STUB (lead): the signatures below are fixed; the STAC/COG helper implements them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pystac

from core.product.l1c import L1CProduct
from core.product.l2a import L2ALayers


@dataclass(frozen=True)
class CloudProduct:
    """What :func:`write_cloud_product` wrote."""

    item: pystac.Item
    item_uri: str
    """Where ``item.json`` was written (the last file written)."""
    files: tuple[str, ...]
    """Every URI written, item last."""


def write_cloud_product(
    l1c: L1CProduct,
    layers: L2ALayers,
    output_uri: str,
    *,
    publish_uri: str | None = None,
    l1c_href: str,
) -> CloudProduct:
    """Write the COGs, the visual COG, the thumbnail and (last) the item under ``output_uri``
    (a local folder or ``s3://`` prefix). Asset hrefs point under ``publish_uri`` (default
    ``output_uri``): the caller may stage the files and copy them there afterwards."""
    raise NotImplementedError
