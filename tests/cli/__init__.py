"""Process-level tests of the ksi commands, one directory per command (the real entry point against the fake world)."""
