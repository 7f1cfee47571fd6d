"""sen2cloud core: Sentinel-2 L1C -> L2A science and product library.

Storage is reached only through paths/URIs (local or ``s3://``); no AWS API is called here.
"""

__version__ = "0.1.0"
