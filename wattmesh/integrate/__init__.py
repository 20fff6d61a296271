"""Adapters to real devices and protocols: MQTT telemetry, DSMR P1, Green Button, CSV, SunSpec, OCPP, OpenADR.

Each module is optional (its package is in the ``integrate`` extra) and imports its protocol library only
when used. Adapters hand readings to a *sink*, a callable that takes a list of :class:`Reading` and returns
once they are stored; they never import the live exchange (a driver): the caller wires the sink to it,
e.g. :func:`wattmesh.integrate.readings.exchange_rows` and the exchange's readings upload.
"""
