"""Orders, clearing mechanisms, the utility as last resort, grid fees and trades."""
