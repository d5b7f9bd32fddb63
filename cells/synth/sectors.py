"""Sectors of each (mast, operator): the certificates' azimuths where known, learned ones
elsewhere (counts, spread and rounding from ``cells/priors/network_model.csv``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cells.priors import NetworkModel


def make_sectors(
    site_ops: pd.DataFrame,
    model: NetworkModel,
    real_sectors: pd.DataFrame,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Sectors of each (site, operator) row.

    Parameters
    ----------
    site_ops : pandas.DataFrame
        One row per (site, operator): ``site_id``, ``operator``.
    model : cells.priors.NetworkModel
    real_sectors : pandas.DataFrame
        :func:`cells.priors.real_sectors`: ``site_id``, ``operator``, ``azimuth``.
    rng : numpy.random.Generator

    Returns
    -------
    pandas.DataFrame
        ``site_op`` (row position in ``site_ops``), ``sector`` (1-based, in azimuth order),
        ``azimuth`` (degrees clockwise from north in ``[0, 360)``, NaN for omni).
    """
    key = pd.MultiIndex.from_frame(site_ops[["site_id", "operator"]])
    real = real_sectors.assign(
        site_op=key.get_indexer(pd.MultiIndex.from_frame(real_sectors[["site_id", "operator"]]))
    )
    real = real.loc[real["site_op"] >= 0, ["site_op", "azimuth"]]
    real["azimuth"] = real["azimuth"] % 360.0

    todo = np.setdiff1d(np.arange(len(site_ops)), real["site_op"].to_numpy())
    counts = np.array(sorted(model.sectors_share))
    share = np.array([model.sectors_share[c] for c in counts])
    n = rng.choice(counts, size=todo.size, p=share / share.sum())
    site_op = np.repeat(todo, n)
    rank = np.arange(site_op.size) - np.repeat(np.cumsum(n) - n, n)
    step = 360.0 / np.repeat(n, n)
    # even spacing from a random rotation; each azimuth jitters so that the angle between
    # neighbouring sectors has the certificates' spread (gap sd = sqrt(2) * azimuth sd)
    rotation = np.repeat(rng.uniform(0.0, 360.0, todo.size), n)
    jitter = rng.normal(0.0, model.azimuth_gap_sd_deg / np.sqrt(2.0), site_op.size)
    azimuth = rotation + rank * step + jitter
    rounded = rng.random(site_op.size) < model.azimuth_round_share
    azimuth = np.where(rounded, np.round(azimuth / 10.0) * 10.0, np.round(azimuth)) % 360.0
    omni = np.repeat((n == 1) & (rng.random(todo.size) < model.single_sector_omni_share), n)
    azimuth[omni] = np.nan
    synthetic = pd.DataFrame({"site_op": site_op, "azimuth": azimuth})

    out = pd.concat([real, synthetic], ignore_index=True)
    out = out.sort_values(["site_op", "azimuth"], kind="stable", ignore_index=True)
    out["sector"] = out.groupby("site_op").cumcount() + 1
    return out[["site_op", "sector", "azimuth"]]
