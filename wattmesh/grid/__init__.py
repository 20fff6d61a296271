"""The feeder as an electrical network: power flow, limits, network-aware fees, islanding."""
