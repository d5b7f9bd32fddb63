"""``geoalert keys create|list|revoke`` on a copy of the tiny world."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from geoalert.cli import app
from geoalert.keys import KEY_PREFIX, authenticate, hash_key
from geodata.stores import open_store

runner = CliRunner()


@pytest.fixture
def world(tiny_world: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_world, tmp_path / "world"))


def _keys(world: Path, *args: str):
    return runner.invoke(app, ["keys", *args, "--data", str(world)])


def test_create_prints_the_key_alone_on_the_last_line_and_stores_only_its_hash(world):
    result = _keys(world, "create", "--role", "mayor", "--area", "21004", "--name", "Mayor X")
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith(KEY_PREFIX) and " " not in secret
    with open_store(world) as store:
        record = authenticate(store, secret)
        assert (record.name, record.role, record.area_code) == ("Mayor X", "mayor", "21004")
        assert record.secret_hash == hash_key(secret)
        assert secret not in (world / "store.sqlite").read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "mayor"], "needs --area"),
        (["--role", "mayor", "--area", "99999"], "unknown area '99999'"),
        (["--role", "mayor", "--area", "04000"], "is a region"),
        (["--role", "federal", "--area", "21004"], "covers no single area"),
        (["--role", "emperor"], "unknown role"),
    ],
)
def test_create_refuses_bad_role_or_area(world, args, message):
    result = _keys(world, "create", *args)
    assert result.exit_code == 2
    assert message in result.output
    with open_store(world) as store:
        assert store.list_keys() == []


def test_duplicate_name_refused(world):
    assert _keys(world, "create", "--role", "federal", "--name", "crisis").exit_code == 0
    result = _keys(world, "create", "--role", "admin", "--name", "crisis")
    assert result.exit_code == 2 and "crisis" in result.output


def test_list_and_revoke(world):
    created = _keys(world, "create", "--role", "operator", "--name", "proximus")
    secret = created.output.strip().splitlines()[-1]
    listed = _keys(world, "list")
    assert listed.exit_code == 0 and "proximus" in listed.output and "operator" in listed.output
    assert secret not in listed.output and hash_key(secret) not in listed.output

    revoked = _keys(world, "revoke", "proximus")
    assert revoked.exit_code == 0, revoked.output
    with open_store(world) as store:
        assert authenticate(store, secret) is None
    assert _keys(world, "revoke", "nobody").exit_code == 2


def test_data_or_db_is_required():
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code != 0 and "--data" in result.output
