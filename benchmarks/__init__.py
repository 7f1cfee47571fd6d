"""Benchmarks (outside pytest collection): JSON out, never timed tests."""
