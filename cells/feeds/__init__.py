"""Operators' network event feeds and their aggregation into per-cell presence counts."""
