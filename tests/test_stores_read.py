"""Store read side, schema and migrations, the same on the embedded store and PostGIS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import sqlalchemy as sa
from store_helpers import BACKENDS, comparable, world_copy

from geoalert.testing.postgis import create_database, drop_database
from geodata.stores import migrate, open_store, store_class
from geodata.stores.embedded import STORE_FILE
from geodata.stores.load import load_world
from geodata.stores.schema import WORLD_DTYPES
from geodata.stores.world import read_world_layer

LAYERS = ["areas", "cells", "addresses", "presence", "contacts", "groups"]


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_read_back_as_written(store, tiny_world: Path, layer: str) -> None:
    got = getattr(store, f"read_{layer}")()
    written = read_world_layer(tiny_world, layer)
    assert list(got.columns[: len(WORLD_DTYPES[layer])]) == list(WORLD_DTYPES[layer])
    assert [str(t) for t in got.dtypes] == [str(t) for t in written.dtypes]
    pd.testing.assert_frame_equal(comparable(got), comparable(written))
    if "geometry" in got:
        assert got.crs.to_epsg() == 4326


def test_world_files_round_trip_raw(tiny_world: Path) -> None:
    """The conformed world equals the raw Parquet content (nothing lost or rounded by casting)."""
    raw = gpd.read_parquet(tiny_world / "addresses.parquet")
    got = read_world_layer(tiny_world, "addresses")
    assert (got["address_id"].to_numpy() == raw["address_id"].to_numpy()).all()
    assert got.geometry.geom_equals_exact(raw.geometry, 0).all()


@pytest.mark.postgis
def test_load_builds_gist_indexes_and_counts(
    postgis: str, tiny_world: Path, tmp_path: Path
) -> None:
    url = create_database(postgis, "load_check")
    try:
        counts = load_world(world_copy(tiny_world, tmp_path), url, progress=False)
        assert (
            counts["addresses"] == 400 and counts["contacts"] == 40 and counts["group_members"] == 5
        )
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            gist = set(
                conn.execute(
                    sa.text(
                        "SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%USING gist (geometry)%'"
                    )
                ).scalars()
            )
            n = conn.execute(sa.text("SELECT count(*) FROM addresses")).scalar_one()
        engine.dispose()
        assert gist == {"areas", "cells", "addresses"}
        assert n == 400
        # A second load replaces the world instead of adding to it.
        load_world(world_copy(tiny_world, tmp_path / "again"), url, progress=False)
        with open_store(db=url) as again:
            assert len(again.read_addresses()) == 400 and len(again.read_contacts()) == 40
    finally:
        drop_database(url)


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrated_database_matches_schema(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "embedded":
        url = f"sqlite:///{tmp_path / 'm.sqlite'}"
    else:
        url = create_database(request.getfixturevalue("postgis"), "migrate_check")
    engine = sa.create_engine(url)
    try:
        assert migrate.current(engine) is None
        assert migrate.upgrade(engine) == migrate.head()
        assert migrate.differences(engine) == []
        # The comparison sees a change: the test would catch a migration that drifts.
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_contacts_phone"))
        assert any(diff[0] == "add_index" for diff in migrate.differences(engine))
    finally:
        engine.dispose()
        if backend == "postgis":
            drop_database(url)


@pytest.mark.postgis
def test_postgis_store_refuses_unmigrated_database(postgis: str) -> None:
    url = create_database(postgis, "not_migrated")
    try:
        with pytest.raises(migrate.SchemaOutdated, match="geoalert db upgrade"):
            open_store(db=url)
    finally:
        drop_database(url)


def test_open_store_needs_a_world_or_a_database() -> None:
    with pytest.raises(ValueError, match="data_dir"):
        open_store()
    with pytest.raises(ValueError, match="unknown store 'nope'"):
        store_class("nope")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_store("/nonexistent/world")


def test_embedded_store_is_created_once_from_the_world(tiny_world: Path, tmp_path: Path) -> None:
    world = world_copy(tiny_world, tmp_path)
    with open_store(world) as first:
        contact = first.register_contact(
            phone="+32470999001", language="nl", addresses=[("home", 1001)]
        )
    assert (world / STORE_FILE).exists()
    with open_store(world) as again:
        contacts = again.read_contacts()
    # Not seeded a second time: the world's 40 contacts and the new one.
    assert len(contacts) == 41
    assert contact.contact_id in set(contacts["contact_id"])


def test_missing_world_file_is_named(tiny_world: Path, tmp_path: Path) -> None:
    world = world_copy(tiny_world, tmp_path)
    (world / "cells.parquet").unlink()
    with open_store(world) as store_, pytest.raises(FileNotFoundError, match=r"cells\.parquet"):
        store_.read_cells()


@pytest.mark.postgis
@pytest.mark.parametrize("layer", LAYERS)
def test_sample_world_reads_identically_from_both_stores(
    sample_world: Path, sample_postgis: str, layer: str
) -> None:
    with open_store(sample_world) as embedded, open_store(db=sample_postgis) as postgis:
        got = getattr(postgis, f"read_{layer}")()
        want = getattr(embedded, f"read_{layer}")()
    assert len(got) > 0
    pd.testing.assert_frame_equal(comparable(got), comparable(want))
