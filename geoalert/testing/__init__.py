"""Helpers for tests and benchmarks: a throwaway PostGIS server, reference results."""
