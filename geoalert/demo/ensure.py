"""A demo world in a directory, built there the first time it is asked for."""

from __future__ import annotations

from pathlib import Path

from geoalert.demo.world import build_world

__all__ = ["ensure_world"]


def ensure_world(data_dir: str | Path, scale: str = "sample", seed: int = 0) -> Path:
    """The world in ``data_dir``, built with :func:`build_world` when it holds none.

    A directory with a ``manifest.json`` is used as it is, whatever its scale.

    Parameters
    ----------
    data_dir : str or Path
        World directory.
    scale : {"sample", "national"}
        Scale to build when the directory holds no world (``"national"`` takes minutes).
    seed : int
        Seed of a world built here.

    Returns
    -------
    Path
        ``data_dir``.
    """
    data_dir = Path(data_dir)
    if not (data_dir / "manifest.json").is_file():
        build_world(data_dir, scale=scale, seed=seed)
    return data_dir
