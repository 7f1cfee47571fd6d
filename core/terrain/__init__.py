"""Elevation models and the terrain geometry derived from them (slope, aspect, illumination)."""
