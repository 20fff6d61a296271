"""wattmesh: a community energy platform (peer-to-peer market, ledger, AI scheduling)."""

__version__ = "0.1.0"
