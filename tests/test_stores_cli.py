"""``geoalert db upgrade``, ``geoalert load`` and ``geoalert contacts ...`` end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_helpers import world_copy
from typer.testing import CliRunner

from geoalert.cli import app
from geoalert.testing.postgis import create_database, drop_database
from geodata.stores import migrate, open_store

CSV = (
    "phone,sms,voice,email,language,address_1,label_1,address_2,label_2\n"
    "+32470111001,yes,no,,nl,1001,home,1002,work\n"
    "0470 11 10 02,,,jane.secret@example.org,fr,1003,,,\n"
    "+324701,yes,no,,nl,1007,home,,\n"
    ",,,bad@@example.org,xx,999999,home,,\n"
    "+32470120001,,,,nl,2.35 48.85,home,,\n"
)
SECRETS = ["470111001", "470 11 10 02", "470111002", "jane.secret", "+324701", "bad@@", "470120001"]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output + (result.stderr or "")


@pytest.fixture
def world(tiny_world: Path, tmp_path: Path) -> Path:
    return world_copy(tiny_world, tmp_path)


def test_import_reports_rows_and_shows_no_personal_data(
    world: Path, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    (tmp_path / "people.csv").write_text(CSV)
    code, out = run(
        "contacts",
        "import",
        tmp_path / "people.csv",
        "--data",
        world,
        "--report",
        tmp_path / "r.json",
    )
    assert code == 1
    assert "5 rows: 0 imported, 3 refused (all-or-nothing); nothing written" in " ".join(
        out.split()
    )
    for row, reason in [
        (4, "malformed phone number"),
        (5, "unknown language"),
        (6, "outside the country"),
    ]:
        assert str(row) in out and reason in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert [p["row"] for p in report["problems"]] == [4, 5, 5, 5, 6, 6]
    for secret in SECRETS:
        assert secret not in out and secret not in caplog.text and secret not in json.dumps(report)

    code, out = run(
        "contacts", "import", tmp_path / "people.csv", "--data", world, "--mode", "good-rows"
    )
    assert code == 1 and "2 imported, 3 refused" in " ".join(out.split())
    with open_store(world) as store:
        assert len(store.read_contacts()) == 42


def test_register_update_unregister(world: Path) -> None:
    code, out = run(
        "contacts", "register", "--data", world, "--language", "nl", "--phone", "0470 55 44 33",
        "--email", "jan.peeters@example.be", "--voice", "--address", "home=1001", "--address", "work=1002",
    )  # fmt: skip
    assert code == 0, out
    assert (
        "registered contact 41 (+32 47* *** *33, j***@example.be): sms/voice/e-mail, nl, 2 addresses"
        in out
    )
    assert "554433" not in out.replace(" ", "") and "jan.peeters" not in out

    code, out = run("contacts", "update", "41", "--data", world, "--language", "fr", "--no-voice")
    assert code == 0 and "sms/e-mail, fr, 2 addresses" in out
    code, out = run("contacts", "update", "41", "--data", world, "--phone", "+32 470 12 00 01")
    assert code == 1 and "phone: already registered" in out and "120001" not in out.replace(" ", "")

    assert run("contacts", "unregister", "41", "--data", world)[0] == 0
    code, out = run("contacts", "unregister", "41", "--data", world)
    assert code == 1 and "no contact with id 41" in out


def test_register_refusal_names_fields(world: Path) -> None:
    code, out = run(
        "contacts",
        "register",
        "--data",
        world,
        "--language",
        "xx",
        "--phone",
        "12",
        "--address",
        "attic=1",
    )
    assert code == 1
    assert "phone: malformed phone number" in out and "language: unknown language" in out
    assert "label" in out
    code, out = run(
        "contacts", "register", "--data", world, "--language", "nl", "--address", "1001"
    )
    assert code == 2 and "LABEL=ADDRESS" in out


@pytest.mark.postgis
def test_db_upgrade_load_and_import_into_postgis(postgis: str, world: Path, tmp_path: Path) -> None:
    url = create_database(postgis, "cli_check")
    try:
        code, out = run("db", "upgrade", "--db", url)
        assert code == 0 and f"database at revision {migrate.head()}" in out
        code, out = run("load", "--data", world, "--db", url)
        assert code == 0, out
        assert "addresses" in out and "400 rows" in out
        (tmp_path / "people.csv").write_text(CSV)
        code, out = run(
            "contacts", "import", tmp_path / "people.csv", "--db", url, "--mode", "good-rows"
        )
        assert code == 1 and "2 imported, 3 refused" in " ".join(out.split())
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM contacts")).scalar_one() == 42
        engine.dispose()
    finally:
        drop_database(url)


@pytest.mark.postgis
def test_unmigrated_database_is_a_usage_error(postgis: str) -> None:
    url = create_database(postgis, "cli_unmigrated")
    try:
        code, out = run("contacts", "unregister", "1", "--db", url)
        assert code == 2 and "geoalert db upgrade" in " ".join(out.split())
    finally:
        drop_database(url)
