"""Sentinel-2 products: L1C reading, L2A writing, naming and metadata."""
