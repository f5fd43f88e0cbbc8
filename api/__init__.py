"""Adapters around the engine: HTTP service, command line, policy sources."""
