"""A Kubernetes API emulator per sandbox cluster."""
