"""Thin wrappers over the external tools: argv in, parsed output out.  Parsing lives only here."""
