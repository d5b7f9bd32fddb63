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


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """World files of a tiny world (two municipalities, 400 addresses); never modified."""
    from geoalert.testing.tiny_world import write_tiny_world

    return write_tiny_world(tmp_path_factory.mktemp("tiny_world"))


@pytest.fixture(scope="session")
def tiny_template(postgis: str, tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Name of a PostGIS database holding the tiny world, to be copied per test."""
    import shutil

    from geoalert.testing.postgis import create_database
    from geodata.stores.load import load_world

    source = tmp_path_factory.mktemp("tiny_world_source")
    shutil.copytree(tiny_world, source, dirs_exist_ok=True)
    load_world(source, create_database(postgis, "tiny_template"), progress=False)
    return "tiny_template"


@pytest.fixture(params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request: pytest.FixtureRequest, tiny_world: Path, tmp_path: Path):
    """A fresh store of the tiny world, once per backend (embedded, PostGIS)."""
    import shutil
    import uuid

    from geoalert.testing.postgis import create_database, drop_database
    from geodata.stores import open_store

    if request.param == "embedded":
        shutil.copytree(tiny_world, tmp_path / "world")
        with open_store(tmp_path / "world") as opened:
            yield opened
        return
    name = f"store_{uuid.uuid4().hex[:16]}"
    template = request.getfixturevalue("tiny_template")
    url = create_database(request.getfixturevalue("postgis"), name, template=template)
    with open_store(db=url) as opened:
        yield opened
    drop_database(url)


@pytest.fixture(scope="session")
def sample_postgis(postgis: str, sample_world: Path) -> str:
    """URL of a PostGIS database holding the sample world (``geoalert load``); read-only."""
    from geoalert.testing.postgis import create_database
    from geodata.stores.load import load_world

    url = create_database(postgis, "sample_world")
    load_world(sample_world, url, progress=False)
    return url
