"""Rebuild the compact network priors of this folder from the raw open data.

Usage: ``python -m cells.priors.derive /path/to/shared/data`` (the folder holding
``bipt_sites_subset/`` and ``ghsl_pop_1km/``). Run once; the outputs are committed, and nothing
at run time reads the raw data.

What is learned, and from what:

- sites per km² against smoothed population density: a Poisson regression of each operator's
  site count per 1 km GHSL cell, over the cells well inside each survey (the surveys' convex
  hulls shrunk by :data:`EDGE_M`), with one intercept per operator and a shared exponent;
- mast sharing: share of BIPT masts listing 1, 2 or 3 operators, per environment;
- sectors per site, single-sector omni share, azimuth spread, horizontal beam width and each
  operator's 800 MHz block: from the sector configurations of the conformity certificates.
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.optimize import minimize
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from cells.identity import OPERATORS
from cells.priors import PRIORS_DIR
from cells.synth.sites import ENVIRONMENTS, environment, smoothed_density

OWNER_MNC = {"Proximus": "01", "Orange Belgium": "10", "Telenet": "20"}
"""BIPT owner names (``EigenaarN`` fields) to MNC."""

CERTIFICATE_MNC = {"pxs": "01", "org": "10", "tnt": "20"}
"""File suffixes of the Flemish certificate extracts to MNC."""

COLOCATED_M = 30.0
"""Antwerp dossiers (no BIPT list there) closer than this are one mast: rooftop antennas of
one site sit within a few tens of metres, distinct sites in the centre are 150 m+ apart."""

EDGE_M = 700.0
"""Grid cells closer than this to a survey's hull edge are left out of the fit: their site
count is truncated by the survey's edge."""

_TO_3812 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:3812", always_xy=True)
_L72_TO_4326 = pyproj.Transformer.from_crs("EPSG:31370", "EPSG:4326", always_xy=True)


def _bipt_masts(folder: Path) -> pd.DataFrame:
    rows = []
    for path in sorted(glob.glob(str(folder / "data_bipt_*.json"))):
        survey = Path(path).stem.removeprefix("data_bipt_")
        for s in json.loads(Path(path).read_text()):
            if s["Status"] != "O":  # operational only; "A"/"R" are pending or refused dossiers
                continue
            owners = {
                s[f"Eigenaar{i}"].split(":")[0] for i in range(1, 16) if s.get(f"Eigenaar{i}")
            }
            for mnc in sorted(OWNER_MNC[o] for o in owners):
                rows.append(
                    (f"bipt-{s['ID']}", survey, mnc, float(s["Longitude"]), float(s["Latitude"]))
                )
    t = pd.DataFrame(rows, columns=["site_id", "survey", "operator", "lon", "lat"])
    # leuven and zuidleuven overlap: a mast listed twice belongs to the first survey read
    return t.drop_duplicates(["site_id", "operator"], keep="first")


def _clusters(xy: np.ndarray, radius: float) -> np.ndarray:
    pairs = cKDTree(xy).query_pairs(radius, output_type="ndarray")
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(xy),) * 2)
    return connected_components(graph, directed=False)[1]


def _antwerp_masts(folder: Path) -> pd.DataFrame:
    pts = []
    for suffix, mnc in CERTIFICATE_MNC.items():
        fc = json.loads((folder / f"antwerpen_antennes_{suffix}.geojson").read_text())
        xy = np.array([f["geometry"]["coordinates"][:2] for f in fc["features"]])
        label = _clusters(xy, COLOCATED_M)
        site = pd.DataFrame(xy, columns=["x", "y"]).groupby(label).mean()
        pts.append(site.assign(operator=mnc))
    sites = pd.concat(pts, ignore_index=True)
    sites["mast"] = _clusters(sites[["x", "y"]].to_numpy(), COLOCATED_M)
    masts = sites.groupby("mast")[["x", "y"]].mean().sort_values(["y", "x"])
    number = pd.Series(np.arange(len(masts)), index=masts.index)
    sites["site_id"] = [f"antw-{n:03d}" for n in number[sites["mast"]]]
    xy = masts.loc[sites["mast"], ["x", "y"]].to_numpy()
    sites["lon"], sites["lat"] = _L72_TO_4326.transform(xy[:, 0], xy[:, 1])
    sites = sites.assign(survey="antwerpen")[["site_id", "survey", "operator", "lon", "lat"]]
    # two dossier clusters of one operator on one mast are one site
    return sites.drop_duplicates(["site_id", "operator"])


def _sectors(folder: Path, masts: pd.DataFrame) -> pd.DataFrame:
    """Sector rows of the certificates, attached to the masts (BIPT id in Leuven, position in
    Antwerp)."""
    x, y = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:31370", always_xy=True).transform(
        masts["lon"].to_numpy(), masts["lat"].to_numpy()
    )
    rows = []
    for city in ("leuven", "antwerpen"):
        for suffix, mnc in CERTIFICATE_MNC.items():
            path = folder / f"{city}_basestations_{suffix}.json"
            mine = (masts["operator"] == mnc).to_numpy()
            tree = cKDTree(np.column_stack([x[mine], y[mine]]))
            ids = masts["site_id"].to_numpy()[mine]
            for site in json.loads(path.read_text()):
                if city == "leuven":
                    site_id = f"bipt-{site['bipt_id']}"
                else:
                    d, i = tree.query([site["location"]["x"], site["location"]["y"]])
                    site_id = ids[i] if d <= COLOCATED_M else None
                for s in site["sectors"]:
                    rows.append(
                        (site_id, mnc, float(s["Azimuth"]), float(s["HAperture"]), s["Frequency"])
                    )
    t = pd.DataFrame(rows, columns=["site_id", "operator", "azimuth", "h_aperture", "freq_mhz"])
    t.loc[t["h_aperture"] >= 360, "azimuth"] = np.nan
    return t


def _fit_site_density(masts: pd.DataFrame, grid: pd.DataFrame) -> tuple[dict, float, float, float]:
    tree = cKDTree(grid[["x", "y"]].to_numpy())
    covariate, counts, operator = [], [], []
    for _, sub in masts.groupby("survey", sort=True):
        hull = shapely.convex_hull(shapely.multipoints(sub[["x", "y"]].to_numpy()))
        inner = np.flatnonzero(
            shapely.contains_xy(shapely.buffer(hull, -EDGE_M), grid["x"], grid["y"])
        )
        _, cell = tree.query(sub[["x", "y"]].to_numpy())
        for k, mnc in enumerate(OPERATORS):
            n = np.bincount(cell[(sub["operator"] == mnc).to_numpy()], minlength=len(grid))
            covariate.append(np.log1p(grid["density"].to_numpy()[inner]))
            counts.append(n[inner])
            operator.append(np.full(inner.size, k))
    x, y, o = map(np.concatenate, (covariate, counts, operator))

    def nll(p: np.ndarray) -> float:
        eta = p[o] + p[3] * x
        return float(np.sum(np.exp(eta) - y * eta))

    p = minimize(nll, np.array([-5.0, -5.0, -5.0, 1.0]), method="BFGS").x
    intercept = {mnc: float(p[k]) for k, mnc in enumerate(OPERATORS)}
    return intercept, float(p[3]), float(np.expm1(x.min())), float(np.expm1(x.max()))


def _gap_sd(sectors: pd.DataFrame) -> float:
    gaps = []
    for _, s in sectors.dropna(subset=["azimuth"]).groupby(["site_id", "operator"]):
        az = np.sort(s["azimuth"].to_numpy() % 360)
        if az.size >= 2:
            g = np.diff(np.concatenate([az, [az[0] + 360]]))
            gaps.extend(g - 360 / az.size)
    return float(np.std(gaps))


def derive(shared: Path) -> None:
    """Write ``bipt_sites.csv``, ``bipt_sectors.csv`` and ``network_model.csv``."""
    folder = shared / "bipt_sites_subset"
    masts = pd.concat([_bipt_masts(folder), _antwerp_masts(folder)], ignore_index=True)
    sectors = _sectors(folder, masts)
    matched = sectors.dropna(subset=["site_id"])

    grid = pd.read_csv(shared / "ghsl_pop_1km" / "ghsl_pop2020_1km_cells.csv")
    grid["x"], grid["y"] = _TO_3812.transform(grid["lon"].to_numpy(), grid["lat"].to_numpy())
    grid["density"] = smoothed_density(grid["x"].to_numpy(), grid["y"].to_numpy(), grid["pop"])
    masts["x"], masts["y"] = _TO_3812.transform(masts["lon"].to_numpy(), masts["lat"].to_numpy())
    intercept, exponent, dmin, dmax = _fit_site_density(masts, grid)

    rows = [("site_intercept", mnc, a, "Poisson fit, all surveys") for mnc, a in intercept.items()]
    rows += [
        ("site_exponent", "", exponent, "Poisson fit, all surveys"),
        ("density_min", "", dmin, "smallest smoothed density in the fit, people/km2"),
        ("density_max", "", dmax, "largest smoothed density in the fit, people/km2"),
    ]
    bipt = masts[masts["site_id"].str.startswith("bipt-")]
    _, cell = cKDTree(grid[["x", "y"]].to_numpy()).query(bipt[["x", "y"]].to_numpy())
    per_mast = (
        bipt.assign(env=environment(grid["density"].to_numpy()[cell]))
        .groupby("site_id")
        .agg(env=("env", "first"), k=("operator", "size"))
    )
    for e, name in enumerate(ENVIRONMENTS):
        k = per_mast.loc[per_mast["env"] == e, "k"]
        for n in (1, 2, 3):
            rows.append(
                ("mast_share", f"{name}:{n}", float((k == n).mean()), f"BIPT lists, {k.size} masts")
            )
    per_site = matched.groupby(["site_id", "operator"])
    n_sectors = per_site.size()
    for n in (1, 2, 3, 4):
        rows.append(
            ("sectors_share", str(n), float((n_sectors == n).mean()), "certificates, sites")
        )
    single = per_site.filter(lambda s: len(s) == 1)
    az = matched["azimuth"].dropna()
    rows += [
        ("single_sector_omni_share", "", float(single["azimuth"].isna().mean()), "certificates"),
        ("azimuth_gap_sd_deg", "", _gap_sd(matched), "certificates, sites with 2+ sectors"),
        ("azimuth_round_share", "", float((az % 10 == 0).mean()), "certificates, sectors"),
        ("h_aperture_deg", "", float(matched["h_aperture"].median()), "certificates, sectors"),
    ]
    for mnc, f in matched.groupby("operator")["freq_mhz"].agg(lambda f: f.mode().iloc[0]).items():
        rows.append(("b20_downlink_mhz", mnc, float(f), "certificates, most common frequency"))
    model = pd.DataFrame(rows, columns=["quantity", "key", "value", "source"])
    model["value"] = model["value"].round(6)

    masts[["lon", "lat"]] = masts[["lon", "lat"]].round(6)
    masts[["site_id", "survey", "operator", "lon", "lat"]].to_csv(
        PRIORS_DIR / "bipt_sites.csv", index=False
    )
    matched[["site_id", "operator", "azimuth", "h_aperture"]].to_csv(
        PRIORS_DIR / "bipt_sectors.csv", index=False
    )
    model.to_csv(PRIORS_DIR / "network_model.csv", index=False)


if __name__ == "__main__":
    derive(Path(sys.argv[1]))
