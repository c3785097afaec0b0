"""Double of a kind node container: a TLS Kubernetes API server (server) with its API (api, auth,
store, resources, seed, tables, proto, events) and the pods' life (life)."""
