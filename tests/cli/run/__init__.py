"""``ksi run``: bring-up, exit codes, bad input, workloads, teardown, security, offline images."""
