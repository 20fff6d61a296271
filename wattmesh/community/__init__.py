"""The physical world: members, assets, feeder topology and the scenario that names them."""
