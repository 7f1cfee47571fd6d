"""Thin AWS Lambda entry points that parse an event and call :mod:`core`.

:mod:`handlers.dispatcher` checks S3 arrivals and public-topic notifications and queues the
Level-1C scenes not seen before (:mod:`handlers.scene_state`); :mod:`handlers.processor` turns a
queued scene into COGs, a STAC item (and optionally a SAFE) published in the output bucket and
indexed by :mod:`handlers.stac_index`; :mod:`handlers.catalog` serves the STAC API over that
index (CQL2 in :mod:`handlers.cql2`, footprints in :mod:`handlers.geometry`);
:mod:`handlers.catalog_writer` adds published items to the static catalog, one at a time.
:mod:`handlers.events` parses and checks the notifications. AWS API calls live here and in
``infra/``, never in ``core``.
"""

from handlers.numba_cache import seed_numba_cache

seed_numba_cache()  # before any handler imports the numba kernels of core
