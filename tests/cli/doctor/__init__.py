"""``ksi doctor``."""
