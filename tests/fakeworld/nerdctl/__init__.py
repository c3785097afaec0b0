"""Double of containerd/nerdctl, rootless (core: the CLI; containers; images)."""
