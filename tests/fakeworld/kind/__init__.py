"""Double of kubernetes-sigs/kind v0.29.0 with the nerdctl provider (cli, core, config,
kubeconfig, provider)."""
