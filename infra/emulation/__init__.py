"""Local emulation of the serverless stack on real HTTP endpoints (moto's server).

The resources come from ``template.yaml`` (:mod:`infra.emulation.stack`), are created on a local
moto server (:mod:`infra.emulation.provision`, :mod:`infra.emulation.runtime`), and the functions
run in-process behind an SQS poller that behaves like Lambda's event source mapping
(:mod:`infra.emulation.event_source`). ``python -m infra.emulation demo`` runs one simulated scene.
"""
