"""Double of liqotech/liqo liqoctl v1.0.0 (cli; install, peer, offload, admin; the liqo world)."""
