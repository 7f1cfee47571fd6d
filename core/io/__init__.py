"""Input/output: XML, storage and rasters. The only part of core (with ``product``) that touches files."""
