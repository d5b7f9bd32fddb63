"""Session fixtures: one sample world and one throwaway PostGIS server per test run."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def sample_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of the sample world (Brussels and surroundings, seed 0), built once per run."""
    from geoalert.demo import build_world

    out = tmp_path_factory.mktemp("sample_world")
    build_world(out, scale="sample", seed=0)
    return out


@pytest.fixture(scope="session")
def postgis(tmp_path_factory: pytest.TempPathFactory):
    """URL of a throwaway PostgreSQL + PostGIS server, started once per run."""
    from geoalert.testing.postgis import running_postgis

    with running_postgis(tmp_path_factory.mktemp("postgis")) as url:
        yield url
