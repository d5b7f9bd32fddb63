"""Groups, API keys and the audit log, on both stores."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa

from geodata.stores.access import KeyExists, UnknownKey
from geodata.stores.groups import UnknownGroup
from geodata.stores.registration import RegistrationError

# -- groups ----------------------------------------------------------------------------


def test_group_and_members(store) -> None:
    group = store.get_group("nh-21004")
    assert (group.name, group.kind, group.area_code) == (
        "Neighbourhood watch Bruxelles",
        "neighbourhood",
        "21004",
    )
    assert group.contact_ids.dtype == np.int64 and list(group.contact_ids) == [2, 3, 5]
    assert list(store.group_members("resp-04000")) == [1, 4]
    with pytest.raises(UnknownGroup, match="no group"):
        store.get_group("nope")


def test_create_and_update_group(store) -> None:
    created = store.create_group(
        "resp-21001", "Responders Anderlecht", "responders", "21001", [7, 6, 6]
    )
    assert list(created.contact_ids) == [6, 7]
    updated = store.update_group("resp-21001", name="Anderlecht responders", add=[9, 8], remove=[6])
    assert updated.name == "Anderlecht responders" and list(updated.contact_ids) == [7, 8, 9]
    replaced = store.update_group("resp-21001", contact_ids=[1], kind="neighbourhood")
    assert list(replaced.contact_ids) == [1] and replaced.kind == "neighbourhood"
    groups = store.read_groups().set_index("group_id")
    assert list(groups.loc["resp-21001", "contact_ids"]) == [1]
    assert list(groups.index) == ["nh-21004", "resp-04000", "resp-21001"]


def test_bad_groups_are_refused_with_reasons(store) -> None:
    with pytest.raises(RegistrationError) as err:
        store.create_group("nh-21004", "", "club", "99999", [1, 10_001, 10_002])
    fields = [p.field for p in err.value.problems]
    assert fields == ["group_id", "name", "kind", "area_code", "contact_ids"]
    assert "2 unknown contact ids (10001, 10002)" in str(err.value)
    with pytest.raises(RegistrationError, match="unknown contact ids"):
        store.update_group("nh-21004", add=[10_003])
    assert list(store.group_members("nh-21004")) == [2, 3, 5]
    with pytest.raises(UnknownGroup):
        store.update_group("nope", name="x")


# -- keys ------------------------------------------------------------------------------


def test_keys_lifecycle(store) -> None:
    t0 = dt.datetime(2025, 3, 12, 8, 0, tzinfo=dt.UTC)
    mayor = store.add_key("mayor-bxl", "mayor", "21004", "a" * 64, created_at=t0)
    store.add_key("federal", "federal", None, "b" * 64)
    assert store.find_key_by_hash("a" * 64) == mayor
    assert store.find_key_by_hash("c" * 64) is None
    assert [k.name for k in store.list_keys()] == ["federal", "mayor-bxl"]
    with pytest.raises(KeyExists):
        store.add_key("mayor-bxl", "mayor", "21004", "d" * 64)
    with pytest.raises(KeyExists):
        store.add_key("other", "federal", None, "a" * 64)

    revoked = store.revoke_key("mayor-bxl", revoked_at=t0 + dt.timedelta(hours=1))
    assert revoked.revoked_at == t0 + dt.timedelta(hours=1)
    assert revoked.created_at == t0 and revoked.created_at.tzinfo is not None
    assert store.find_key_by_hash("a" * 64) is None
    assert store.find_key_by_hash("a" * 64, include_revoked=True) == revoked
    assert store.revoke_key("mayor-bxl").revoked_at == revoked.revoked_at
    assert [k.name for k in store.list_keys(include_revoked=False)] == ["federal"]
    with pytest.raises(UnknownKey):
        store.revoke_key("nobody")


# -- audit -----------------------------------------------------------------------------


def test_audit_appends_and_reads_in_order(store) -> None:
    t = dt.datetime(2025, 3, 12, 8, 0, tzinfo=dt.UTC)
    first = store.append_audit(
        {
            "action": "resolve",
            "key_name": "mayor-bxl",
            "time": t,
            "zone_hash": "ab12",
            "counts": {"cells": 3},
        }
    )
    second = store.append_audit(
        {"action": "keys.create", "key_name": "admin", "created": "federal"}
    )
    assert second > first
    records = store.read_audit()
    assert records[0] == {
        "seq": first,
        "time": t,
        "action": "resolve",
        "key_name": "mayor-bxl",
        "zone_hash": "ab12",
        "counts": {"cells": 3},
    }
    assert [r["seq"] for r in store.read_audit(after=first)] == [second]
    assert [r["action"] for r in store.read_audit(key_name="admin")] == ["keys.create"]
    assert len(store.read_audit(limit=1)) == 1


@pytest.mark.parametrize(
    "record",
    [
        {"action": "resolve", "note": "jane@example.org"},
        {"action": "resolve", "targets": ["+32470123456"]},
        {"action": "resolve", "key_name": "x", "detail": {"phone": "+33612345678"}},
        {"key_name": "no-action"},
        {"action": "resolve", "when": dt.date(2025, 1, 1)},
    ],
)
def test_audit_refuses_personal_data_and_bad_records(store, record) -> None:
    with pytest.raises(ValueError) as err:
        store.append_audit(record)
    assert "@" not in str(err.value) and "+3" not in str(err.value)
    assert store.read_audit() == []


def test_audit_is_append_only_in_the_database(store) -> None:
    store.append_audit({"action": "resolve"})
    for statement in ("UPDATE audit SET action = 'x'", "DELETE FROM audit"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert [r["action"] for r in store.read_audit()] == ["resolve"]
