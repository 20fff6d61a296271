"""Asset health: PV expected-vs-actual, battery state of health, transformer ageing."""
