"""Input/output: XML, storage and rasters (with ``product``, the only part touching files)."""
