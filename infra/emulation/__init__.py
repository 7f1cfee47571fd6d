"""Local emulation of the serverless stack on real HTTP endpoints (moto's server).

The resources come from ``template.yaml`` (:mod:`infra.emulation.stack`), are created on a local
moto server (:mod:`infra.emulation.provision`, :mod:`infra.emulation.runtime`), the functions
fed by queues (dispatcher, processor, strips, assembly, catalog writer) run in-process behind SQS
pollers that behave like Lambda's event source mappings
(:mod:`infra.emulation.event_source`) and the catalog function serves the STAC API on localhost
(:mod:`infra.emulation.stac_api`). ``python -m infra.emulation serve`` (``make local``) runs the
stack until stopped; ``python -m infra.emulation demo`` (``make demo``) runs one simulated scene.
"""
