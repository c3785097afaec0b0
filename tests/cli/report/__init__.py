"""``ksi report``."""
