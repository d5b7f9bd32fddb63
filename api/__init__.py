"""Thin FastAPI layer over :mod:`geoalert` and the crisis cell's map page."""
