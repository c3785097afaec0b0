"""The fake world: test doubles of kind, nerdctl, liqoctl, systemd-run and a TLS Kubernetes API
server, one package per tool (README.md).  ksi runs them through the shims in ``bin/``."""
