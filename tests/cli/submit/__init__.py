"""``ksi submit`` (without Slurm; the real submission is in tests/slurm)."""
