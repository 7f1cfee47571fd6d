"""The STAC item of one L2A scene.

CONTRACT STUB (lead): the signatures below are fixed; the STAC helper implements them.
"""

from __future__ import annotations

from collections.abc import Mapping

import pystac

from core.product.l1c import L1CProduct
from core.product.l2a import L2ALayers


def create_item(
    l1c: L1CProduct,
    layers: L2ALayers,
    asset_hrefs: Mapping[str, str],
    *,
    l1c_href: str,
) -> pystac.Item:
    """The item of the L2A made from ``l1c``: properties from its metadata and ``layers``
    (cloud cover and ``s2:*`` percentages from the SCL), assets at ``asset_hrefs`` (asset key ->
    final URI), a ``derived_from`` link to ``l1c_href``."""
    raise NotImplementedError
