"""sen2cloud core: Sentinel-2 L1C -> L2A science and product library.

Storage is reached only through paths/URIs (local or ``s3://``); no AWS API is called here.
"""

# The eccodes wheel bundles libraries that break PROJ's database lookup (pyproj raises "no database
# context specified", later a double free) when eccodes is loaded first. Loading pyproj before any
# core module can import eccodes keeps the process-wide order right.
import pyproj  # noqa: F401

__version__ = "0.1.0"
