"""STAC metadata of L2A outputs: items (stactools-sentinel2 names) and the collection."""
