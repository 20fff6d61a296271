"""Driver 2: the live exchange server, its store and the home-agent client."""
