"""Driver 1: the simulation clock over the core, vectorised over members."""
