"""Compact priors of the mobile network, derived from real BIPT antenna data.

Files (provenance and licence in ``README.md``; rebuilt by ``python -m cells.priors.derive``):

- ``bipt_sites.csv``: real masts of the surveyed areas (Ghent, Leuven, south of Leuven,
  Boortmeerbeek, central Antwerp), one row per (mast, operator), WGS84.
- ``bipt_sectors.csv``: sector azimuths and horizontal beam widths from the conformity
  certificates (Leuven, Antwerp), one row per sector.
- ``network_model.csv``: the relationships learned from them (sites per km² against population
  density, mast sharing, sectors per site, azimuth spread, 800 MHz blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

PRIORS_DIR = Path(__file__).resolve().parent

SOURCES = [
    {
        "name": "BIPT antenna site register and Flemish antenna conformity certificates "
        "(Ghent, Leuven, Boortmeerbeek, central Antwerp)",
        "file": "cells/priors/bipt_sites.csv, cells/priors/bipt_sectors.csv",
        "provenance": "sites.bipt.be and milieuinfo.be zendantennes, as collected by "
        "github.com/mraes/bipt-basestation-getter (commit d3f2dd77, MIT); masts, operators "
        "and 800 MHz sector azimuths; learned rates in cells/priors/network_model.csv",
        "licence": "MIT (repository); BIPT public register and Flemish open data, free reuse "
        "with attribution",
        "attribution": "BIPT site register; Departement Omgeving, Vlaamse overheid "
        "(zendantennes); mraes/bipt-basestation-getter",
    }
]
"""Provenance of these priors, in the form of the world manifest's ``sources``."""


@dataclass(frozen=True)
class NetworkModel:
    """Relationships learned from the real masts (see ``network_model.csv`` for each source)."""

    site_intercept: dict[str, float]
    """Per MNC: ``a`` of sites/km² = exp(a + b ln(1 + people/km²)) (Poisson fit)."""
    site_exponent: float
    """``b`` of the same law, shared by the operators."""
    density_min: float
    """Smallest smoothed density (people/km²) in the fit; the law is not extrapolated below."""
    density_max: float
    """Largest smoothed density in the fit; the law is not extrapolated above."""
    mast_share: dict[str, dict[int, float]]
    """Per environment (rural/suburban/urban): share of masts hosting 1, 2 or 3 operators."""
    sectors_share: dict[int, float]
    """Share of sites with 1, 2, 3 or 4 sectors."""
    single_sector_omni_share: float
    """Share of single-sector sites whose antenna is omnidirectional."""
    azimuth_gap_sd_deg: float
    """Standard deviation of the angle between neighbouring sectors around 360/n."""
    azimuth_round_share: float
    """Share of azimuths that are a multiple of 10 degrees."""
    h_aperture_deg: float
    """Median horizontal half-power beam width of sector antennas."""
    b20_downlink_mhz: dict[str, int]
    """Per MNC: the operator's 800 MHz (B20) downlink frequency in the certificates."""


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(PRIORS_DIR / name, dtype={"operator": str, "key": str, "site_id": str})


@cache
def network_model() -> NetworkModel:
    """The learned relationships of ``network_model.csv``."""
    t = _read("network_model.csv")
    v = {(q, "" if pd.isna(k) else k): val for q, k, val in t[["quantity", "key", "value"]].values}

    def per_key(quantity: str) -> dict[str, float]:
        return {k: val for (q, k), val in v.items() if q == quantity}

    shares: dict[str, dict[int, float]] = {}
    for key, val in per_key("mast_share").items():
        env, k = key.split(":")
        shares.setdefault(env, {})[int(k)] = val
    return NetworkModel(
        site_intercept=per_key("site_intercept"),
        site_exponent=v["site_exponent", ""],
        density_min=v["density_min", ""],
        density_max=v["density_max", ""],
        mast_share=shares,
        sectors_share={int(k): val for k, val in per_key("sectors_share").items()},
        single_sector_omni_share=v["single_sector_omni_share", ""],
        azimuth_gap_sd_deg=v["azimuth_gap_sd_deg", ""],
        azimuth_round_share=v["azimuth_round_share", ""],
        h_aperture_deg=v["h_aperture_deg", ""],
        b20_downlink_mhz={k: int(val) for k, val in per_key("b20_downlink_mhz").items()},
    )


@cache
def real_sites() -> pd.DataFrame:
    """Real masts: ``site_id``, ``survey``, ``operator`` (MNC), ``lon``, ``lat`` (WGS84)."""
    return _read("bipt_sites.csv")


@cache
def real_sectors() -> pd.DataFrame:
    """Real sectors: ``site_id``, ``operator``, ``azimuth`` (degrees, NaN omni), ``h_aperture``."""
    return _read("bipt_sectors.csv")
