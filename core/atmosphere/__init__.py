"""Atmospheric correction: the project's own 6S radiative-transfer tables, interpolated."""
