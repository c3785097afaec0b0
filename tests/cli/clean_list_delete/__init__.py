"""``ksi clean``, ``ksi list``, ``ksi delete``."""
