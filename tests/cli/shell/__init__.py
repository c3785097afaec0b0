"""``ksi shell``."""
