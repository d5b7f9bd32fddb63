"""Cell identities: the Belgian operator table and ``"{mcc}-{mnc}-{node}-{cid}"`` cell ids.

A cell id names the network node and the cell on it, as the radio standards do:

- 2G: CGI = MCC, MNC, LAC (location area code, 16 bits) and CI (cell identity, 16 bits);
- 4G: ECGI = MCC, MNC, eNB id (20 bits) and cell id (8 bits);
- 5G: NCGI = MCC, MNC, gNB id (22 bits here) and cell id (the 14 remaining bits of the 36-bit NCI).

This module is the single source of the operator table: import :data:`OPERATORS` rather than
spelling operator names or MNCs elsewhere.

Examples
--------
>>> format_cell_ids(206, "01", [123456], [3]).tolist()
['206-01-123456-3']
>>> parse_cell_ids(["206-10-4021-17"])["node"].tolist()
[4021]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MCC_BELGIUM = 206
"""Mobile country code of Belgium (ITU-T E.212)."""

OPERATORS: dict[str, str] = {
    "01": "Proximus",
    "10": "Orange Belgium",
    "20": "Telenet/BASE",
}
"""Mobile network codes of MCC 206 and the operators' names (BIPT numbering plan)."""

NODE_RANGES: dict[str, tuple[int, int]] = {
    "2G": (1, 65_533),  # LAC: 0x0000 and 0xFFFE/0xFFFF are reserved (3GPP TS 23.003)
    "4G": (0, 2**20 - 1),  # macro eNB id, 20 bits (TS 36.413)
    "5G": (0, 2**22 - 1),  # gNB id, 22 bits (TS 38.413 allows 22 to 32)
}
"""Inclusive range of the node part of a cell id per radio technology."""

CID_RANGES: dict[str, tuple[int, int]] = {
    "2G": (0, 65_535),  # CI, 16 bits
    "4G": (0, 255),  # 8-bit cell id within the eNB
    "5G": (0, 2**14 - 1),  # 36-bit NCI minus the 22-bit gNB id
}
"""Inclusive range of the cell part of a cell id per radio technology."""

_CELL_ID_PATTERN = r"^(\d{3})-(\d{2,3})-(\d+)-(\d+)$"


class CellIdError(ValueError):
    """A cell id or one of its parts is malformed or out of range."""


def operator_names(mnc: Sequence[str] | np.ndarray) -> np.ndarray:
    """Operator names for MNCs of MCC 206.

    Parameters
    ----------
    mnc : sequence of str
        Two-digit mobile network codes, e.g. ``"01"``.

    Returns
    -------
    numpy.ndarray of object (str), shape ``(n,)``

    Raises
    ------
    CellIdError
        If an MNC is not in :data:`OPERATORS`.
    """
    mnc = np.asarray(mnc, dtype=object)
    unknown = sorted(set(mnc.tolist()) - OPERATORS.keys())
    if unknown:
        raise CellIdError(f"unknown MNC(s) {unknown}; known for MCC 206: {sorted(OPERATORS)}")
    return pd.Series(mnc).map(OPERATORS).to_numpy(dtype=object)


def check_cell_parts(radio: str, node: np.ndarray, cid: np.ndarray) -> None:
    """Raise :class:`CellIdError` unless every node and cell part fits ``radio``'s ranges.

    Parameters
    ----------
    radio : {"2G", "4G", "5G"}
    node, cid : array_like of int, shape ``(n,)``
        LAC and CI for 2G, eNB id and cell id for 4G, gNB id and cell id for 5G.
    """
    if radio not in NODE_RANGES:
        raise CellIdError(f"unknown radio {radio!r}; expected one of {sorted(NODE_RANGES)}")
    for part, values, (lo, hi) in (
        ("node", np.asarray(node), NODE_RANGES[radio]),
        ("cid", np.asarray(cid), CID_RANGES[radio]),
    ):
        bad = np.flatnonzero((values < lo) | (values > hi))
        if bad.size:
            raise CellIdError(
                f"{radio} {part} {int(values[bad[0]])} at position {int(bad[0])} is outside "
                f"[{lo}, {hi}] ({bad.size} value(s) out of range)"
            )


def format_cell_ids(
    mcc: int | np.ndarray, mnc: str | Sequence[str], node: np.ndarray, cid: np.ndarray
) -> np.ndarray:
    """Build ``"{mcc}-{mnc}-{node}-{cid}"`` cell ids.

    Parameters
    ----------
    mcc : int or array_like of int
        Three-digit mobile country code (206 for Belgium).
    mnc : str or sequence of str
        Two- or three-digit mobile network code, kept as written (``"01"``).
    node, cid : array_like of int, shape ``(n,)``
        Node (LAC, eNB id, gNB id) and cell part; non-negative.

    Returns
    -------
    numpy.ndarray of object (str), shape ``(n,)``

    Examples
    --------
    >>> format_cell_ids(206, ["01", "20"], [1001, 123456], [7, 12]).tolist()
    ['206-01-1001-7', '206-20-123456-12']
    """
    node = np.asarray(node, dtype=np.int64)
    cid = np.asarray(cid, dtype=np.int64)
    n = node.shape[0]
    mcc = np.broadcast_to(np.asarray(mcc, dtype=np.int64), (n,))
    mnc = np.broadcast_to(np.asarray(mnc, dtype=object), (n,))
    if n and (node.min() < 0 or cid.min() < 0):
        raise CellIdError("node and cid parts of a cell id must be non-negative")
    if n and ((mcc < 100) | (mcc > 999)).any():
        raise CellIdError("an MCC has exactly three digits")
    return np.array(
        [
            f"{a}-{b}-{c}-{d}"
            for a, b, c, d in zip(mcc.tolist(), mnc, node.tolist(), cid.tolist(), strict=True)
        ],
        dtype=object,
    )


def parse_cell_ids(cell_ids: Sequence[str] | np.ndarray | pd.Series) -> pd.DataFrame:
    """Split ``"{mcc}-{mnc}-{node}-{cid}"`` cell ids into their parts.

    Parameters
    ----------
    cell_ids : sequence of str, shape ``(n,)``

    Returns
    -------
    pandas.DataFrame
        Columns ``mcc`` (int16), ``mnc`` (str, as written), ``node`` (int64), ``cid`` (int64),
        one row per id in input order.

    Raises
    ------
    CellIdError
        Naming the first malformed id and its position.

    Examples
    --------
    >>> parse_cell_ids(["206-01-123456-3"]).iloc[0].tolist()
    [206, '01', 123456, 3]
    """
    ids = pd.Series(np.asarray(cell_ids, dtype=object), dtype=object)
    parts = ids.astype(str).str.extract(_CELL_ID_PATTERN)
    bad = np.flatnonzero(parts[0].isna().to_numpy() | ids.isna().to_numpy())
    if bad.size:
        raise CellIdError(
            f"cell id {ids.iloc[bad[0]]!r} at position {int(bad[0])} is not "
            f"'{{mcc}}-{{mnc}}-{{node}}-{{cid}}' ({bad.size} malformed)"
        )
    return pd.DataFrame(
        {
            "mcc": parts[0].astype(np.int16).to_numpy(),
            "mnc": parts[1].to_numpy(dtype=object),
            "node": parts[2].astype(np.int64).to_numpy(),
            "cid": parts[3].astype(np.int64).to_numpy(),
        }
    )
