"""The throwaway PostGIS server used by the tests and benchmarks."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from geoalert.testing.postgis import running_postgis

pytestmark = pytest.mark.postgis


def test_fixture_serves_postgis(postgis: str) -> None:
    engine = sa.create_engine(postgis)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT postgis_lib_version()")).scalar_one()
        covers = conn.execute(
            sa.text("SELECT ST_Covers(ST_MakeEnvelope(0, 0, 1, 1, 4326), ST_Point(1, 0.5, 4326))")
        ).scalar_one()
    engine.dispose()
    assert version.startswith("3.")
    assert covers is True


def test_server_and_files_are_gone_after_exit(tmp_path) -> None:
    with running_postgis(tmp_path) as url:
        dsn = sa.make_url(url).set(drivername="postgresql").render_as_string()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)
    assert list(tmp_path.iterdir()) == []
