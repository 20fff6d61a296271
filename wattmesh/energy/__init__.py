"""Home and community energy management: battery and EV dispatch and demand response."""
