"""Thin AWS Lambda entry points that parse an event and call :mod:`core`.

The dispatcher, processor and catalog handlers arrive with the serverless-pipeline work; until
then the deployable template wires the storage and the work queue only.
"""
