"""What the doubles share: the fake world's state (world), pflag/cobra flags (cliflags), Go
templates (gotemplate), Go's proxy choice (goproxy)."""
