"""Helpers for tests and benchmarks: a throwaway PostGIS server, local providers, free
loopback ports, a tiny world."""
