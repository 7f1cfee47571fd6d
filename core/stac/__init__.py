"""STAC metadata of L2A outputs (stactools-sentinel2 names, Earth Search asset keys).

``assets`` (keys, file names, encodings), ``footprint`` (WGS84 geometry), ``item``,
``collection``, ``catalog`` (static tree) and ``validate`` (offline JSON-schema checks against
the schemas vendored in ``schemas/``).
"""
