"""Thin AWS Lambda entry points that parse an event and call :mod:`core`.

:mod:`handlers.processor` turns an S3 arrival queued on SQS into an L2A product in the output
bucket; :mod:`handlers.events` parses and checks the notifications. AWS API calls live here and in
``infra/``, never in ``core``.
"""
