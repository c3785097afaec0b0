"""Double of ``systemd-run --user`` (cli: the command and the unit's supervisor)."""
