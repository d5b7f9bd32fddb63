"""Campaigns end to end through real local servers: SMPP (our SMSC), SMTP (aiosmtpd), HTTP.

The targets are checked against a brute-force oracle (each person whose registered address
the zone covers, by shapely ``covers``), the messages against what the servers received.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import shutil
import types
from pathlib import Path

import pytest
import shapely

import geoalert
from geoalert.campaigns import service
from geoalert.campaigns.model import CampaignError, CampaignSpec, check_transition
from geoalert.campaigns.queue import CampaignStore, message_key
from geoalert.messages.alphabet import septets_to_text
from geoalert.testing.fake_provider import FakeProvider
from geoalert.testing.smpp_server import SmppServer
from geoalert.testing.smtp_server import SmtpServer
from geoalert.testing.tiny_world import write_tiny_world
from geodata.masking import EMAIL_PATTERN, PHONE_PATTERN

TEXTS = {"nl": "Sluit ramen en deuren.", "fr": "Fermez portes et fenêtres."}
PARTS = ["cells", "addresses", "contacts"]


@pytest.fixture
def world(tiny_world: Path, tmp_path: Path) -> Path:
    shutil.copytree(tiny_world, tmp_path / "world")
    return tmp_path / "world"


@pytest.fixture
def engine(world: Path):
    opened = geoalert.Engine.open(world, include=PARTS)
    yield opened
    opened.store.close()


@pytest.fixture
def servers():
    with SmppServer() as smsc, FakeProvider() as http, SmtpServer() as smtp:
        yield smsc, http, smtp


def providers_for(smsc, http, smtp, **overrides) -> dict:
    fast = {"backoff_s": 0.01, "receipt_wait_s": 5.0}
    out = {
        "sms": {"adapter": "smpp", "port": smsc.port, "password": "secret", **fast},
        "voice": {"adapter": "http-voice", "url": http.url, **fast},
        "email": {"adapter": "smtp", "port": smtp.port, **fast},
        "cell_broadcast": {"adapter": "http-operator", "url": http.url, **fast},
        "alert_sms": {"adapter": "http-operator", "url": http.url, **fast},
    }
    for channel, options in overrides.items():
        out[channel] = {**out[channel], **options}
    return out


def expected_people(engine, zone_code: str) -> dict[str, set[int]]:
    """Oracle: contact ids per channel of the people with an address the area covers."""
    addresses = engine.store.read_addresses()
    area = engine.areas[zone_code]
    covered = set(addresses["address_id"][shapely.covers(area, addresses.geometry.values)])
    people = engine.store.read_contacts()
    inside = people[[bool(covered & set(ids.tolist())) for ids in people["address_ids"]]]
    return {
        "sms": set(inside["contact_id"][inside["sms"] & inside["phone"].notna()]),
        "voice": set(inside["contact_id"][inside["voice"] & inside["phone"].notna()]),
        "email": set(inside["contact_id"][inside["email"].notna()]),
    }


def run(engine, campaign_id, providers, **kwargs):
    return asyncio.run(
        service.run(engine, campaign_id, providers=providers, flush_interval_s=0.05, **kwargs)
    )


def test_live_campaign_reaches_every_target_once_in_their_language(engine, servers) -> None:
    smsc, http, smtp = servers
    spec = CampaignSpec(
        zone={"area": "21004"},
        channels=["sms", "voice", "email", "cell_broadcast", "alert_sms"],
        texts=TEXTS,
        headlines={"fr": "Alerte"},
    )
    record = service.accept(engine, spec, key_name="test")
    report = run(engine, record.campaign_id, providers_for(smsc, http, smtp))

    want = expected_people(engine, "21004")
    store = CampaignStore(engine.store.engine)
    rows = store.messages(record.campaign_id)
    people = engine.store.read_contacts().set_index("contact_id")
    for channel in ("sms", "voice", "email"):
        mine = [r for r in rows if r["channel"] == channel]
        assert {r["contact_id"] for r in mine} == want[channel]
        assert len(mine) == len(want[channel])  # one message per person and channel
    assert all(r["state"] == "delivered" for r in rows if r["channel"] != "email")
    assert all(r["state"] == "sent" for r in rows if r["channel"] == "email")

    def language(contact_id: int) -> str:
        own = people.loc[contact_id, "language"]
        return own if own in TEXTS else "nl"

    by_key = {message_key(record.uid, r["seq"]): r for r in rows}
    # SMS: one submit_sm per person, to their phone, in their language, GSM 7-bit or UCS-2.
    assert len(smsc.received) == len(want["sms"]) and smsc.duplicates == 0
    for sub in smsc.received:
        row = by_key[sub.key]
        assert "+" + sub.destination == people.loc[row["contact_id"], "phone"]
        text = septets_to_text(sub.text) if sub.data_coding == 0 else sub.text.decode("utf-16-be")
        assert text == TEXTS[language(row["contact_id"])]
        assert sub.data_coding == (0 if language(row["contact_id"]) == "nl" else 8)
    # E-mail: one per person, its Message-ID the idempotency key, the person's language.
    assert len(smtp.received) == len(want["email"]) and smtp.duplicates == 0
    for (message_id, rcpt), message in smtp.unique.items():
        row = by_key[message_id.strip("<>").split("@")[0]]
        assert rcpt == people.loc[row["contact_id"], "email"]
        lang = language(row["contact_id"])
        assert message["Content-Language"] == lang
        assert message.get_content().strip() == TEXTS[lang]
        assert message["Subject"] == ("Alerte" if lang == "fr" else TEXTS["nl"])
    # Voice and the operators' requests over HTTP.
    calls = [m for m in http.received if m["path"] == "/v1/calls"]
    assert sorted(c["to"] for c in calls) == sorted(
        people.loc[list(want["voice"]), "phone"].tolist()
    )
    operators = [m for m in http.received if m["path"] == "/v1/operators"]
    assert {(m["channel"], m["to"]) for m in operators} == {
        (c, op) for c in ("cell_broadcast", "alert_sms") for op in ("01", "10")
    }
    cb = next(m for m in operators if m["channel"] == "cell_broadcast")["request"]
    assert cb["operation"] == "write-replace" and cb["cells"]

    assert report["state"] == "finished"
    sms = report["channels"]["sms"]
    assert sms["sent"] == sms["delivered"] == len(want["sms"]) and sms["failed"] == 0
    assert sms["cost_eur"] == round(len(want["sms"]) * 0.055, 2)  # one segment each
    assert report["channels"]["email"]["sent"] == len(want["email"])
    assert report["total"]["open"] == 0
    assert report["cost_eur"] == pytest.approx(
        sum(c["cost_eur"] for c in report["channels"].values())
        + report["alert_sms_estimated_cost_eur"]
    )
    assert report["duration_s"] > 0


def test_groups_without_zone(engine, servers) -> None:
    smsc, http, smtp = servers
    spec = CampaignSpec(groups=["nh-21004", "resp-04000"], channels=["sms"], texts=TEXTS)
    record = service.accept(engine, spec, key_name="test")
    run(engine, record.campaign_id, providers_for(smsc, http, smtp))
    people = engine.store.read_contacts().set_index("contact_id")
    members = [c for c in (1, 2, 3, 4, 5) if people.loc[c, "sms"] and people.loc[c, "phone"]]
    assert sorted("+" + s.destination for s in smsc.received) == sorted(
        people.loc[members, "phone"]
    )


def test_simulation_runs_the_same_flow_and_delivers_nothing(engine, servers) -> None:
    smsc, http, smtp = servers
    spec = CampaignSpec(
        zone={"area": "21004"},
        channels=["sms", "email", "cell_broadcast"],
        texts=TEXTS,
        mode="simulation",
    )
    record = service.accept(engine, spec, key_name="test")
    report = run(engine, record.campaign_id, providers_for(smsc, http, smtp))
    want = expected_people(engine, "21004")
    assert not smsc.received and not http.received and not smtp.received
    assert report["mode"] == "simulation" and report["state"] == "finished"
    assert report["channels"]["sms"]["delivered"] == len(want["sms"])
    assert report["channels"]["email"]["delivered"] == len(want["email"])
    assert report["channels"]["cell_broadcast"]["delivered"] == 2
    summary = CampaignStore(engine.store.engine).get(record.campaign_id).summary
    assert summary["operators"]["alert"]["level"] == "exercise"


def test_failing_provider_retries_then_fails_with_reason_and_other_channels_go_on(
    engine, servers
) -> None:
    smsc, http, smtp = servers
    http.fail_statuses.extend([503] * 1000)  # the voice provider is down
    smsc.fail_statuses.extend([0x58] * 3)  # the SMSC throttles three submits, then accepts
    refused = next(iter(sorted(engine.store.read_contacts()["email"].dropna())))
    smtp.refuse.add(refused)
    spec = CampaignSpec(zone={"area": "04000"}, channels=["sms", "voice", "email"], texts=TEXTS)
    record = service.accept(engine, spec, key_name="test")
    report = run(
        engine, record.campaign_id, providers_for(smsc, http, smtp, voice={"max_attempts": 3})
    )
    voice = report["channels"]["voice"]
    assert voice["failed"] == voice["messages"] > 0 and voice["sent"] == 0
    assert voice["failed_reasons"] == {
        "gave up after 3 attempts: provider answered HTTP 503": voice["messages"]
    }
    assert http.requests == 3  # one batch, three attempts
    rows = CampaignStore(engine.store.engine).messages(record.campaign_id)
    assert {r["attempts"] for r in rows if r["channel"] == "voice"} == {3}
    sms = report["channels"]["sms"]
    assert sms["delivered"] == sms["messages"] and smsc.duplicates == 0
    assert len({s.key for s in smsc.received}) == sms["messages"]
    email = report["channels"]["email"]
    assert email["failed"] == 1 and email["sent"] == email["messages"] - 1
    ((reason, n),) = email["failed_reasons"].items()
    assert reason.startswith("SMTP 550") and refused not in reason and n == 1


def test_sms_over_several_binds_with_small_windows_is_sent_once(engine, servers) -> None:
    smsc, http, smtp = servers
    smsc.fail_statuses.extend([0x58, 0x14, 0x0B])  # throttled, queue full, bad destination
    spec = CampaignSpec(zone={"area": "04000"}, channels=["sms"], texts=TEXTS)
    record = service.accept(engine, spec, key_name="test")
    sms_options = {"binds": 3, "window": 2, "batch": 17}
    report = run(engine, record.campaign_id, providers_for(smsc, http, smtp, sms=sms_options))
    sms = report["channels"]["sms"]
    assert smsc.binds == 3 and smsc.duplicates == 0
    assert sms["delivered"] == sms["messages"] - 1 == len(smsc.unique)
    assert sms["failed_reasons"] == {"SMSC refused: command_status 0x0000000b (ESME_RINVDSTADR)": 1}


def test_provider_time_out_is_retried_then_failed(engine, servers) -> None:
    smsc, http, smtp = servers
    http.delay_s = 0.5
    spec = CampaignSpec(zone={"area": "21004"}, channels=["voice"], texts=TEXTS)
    record = service.accept(engine, spec, key_name="test")
    report = run(
        engine,
        record.campaign_id,
        providers_for(smsc, http, smtp, voice={"timeout_s": 0.1, "max_attempts": 2}),
    )
    voice = report["channels"]["voice"]
    assert voice["failed_reasons"] == {
        "gave up after 2 attempts: provider timed out after 0.1 s": voice["messages"]
    }


def test_cancel_stops_further_sends_and_is_reported(tmp_path: Path, servers) -> None:
    smsc, http, smtp = servers
    world = write_tiny_world(tmp_path / "world", n_contacts=400)
    engine = geoalert.Engine.open(world, include=PARTS)
    spec = CampaignSpec(zone={"area": "04000"}, channels=["sms", "voice"], texts=TEXTS)
    record = service.accept(engine, spec, key_name="test")
    store = CampaignStore(engine.store.engine)
    providers = providers_for(
        smsc, http, smtp, sms={"rate_per_s": 100, "batch": 10}, voice={"rate_per_s": 50, "batch": 5}
    )

    async def scenario():
        task = asyncio.create_task(
            service.run(engine, record.campaign_id, providers=providers, flush_interval_s=0.05)
        )
        while len(smsc.received) < 30:
            await asyncio.sleep(0.02)
        store.cancel(record.campaign_id)
        return await task

    report = asyncio.run(scenario())
    handed = len(smsc.received)
    assert report["state"] == "cancelled"
    sms = report["channels"]["sms"]
    assert 30 <= sms["sent"] == handed < sms["messages"]  # at most the batch in flight
    assert sms["cancelled"] == sms["messages"] - sms["sent"] and sms["open"] == 0
    assert report["channels"]["voice"]["cancelled"] > 0
    assert report["total"]["open"] == 0
    reasons = {r["reason"] for r in store.messages(record.campaign_id) if r["state"] == "cancelled"}
    assert reasons == {"campaign cancelled"}
    asyncio.run(service.run(engine, record.campaign_id, providers=providers))  # nothing resumes
    assert len(smsc.received) == handed
    engine.store.close()


def test_template_goes_out_with_its_placeholders_filled(engine) -> None:
    store = CampaignStore(engine.store.engine)
    store.save_template(
        "chemical",
        {
            "texts": {
                "nl": "Chemisch incident in $place: sluit ramen.",
                "fr": "Incident à $place.",
            },
            "headlines": {"nl": "Incident $place"},
        },
    )
    spec = CampaignSpec(
        zone={"area": "21004"},
        channels=["sms"],
        template="chemical",
        params={"place": "Anderlecht"},
        mode="simulation",
    )
    record = service.accept(engine, spec, key_name="test")
    assert record.spec["texts"] == {
        "nl": "Chemisch incident in Anderlecht: sluit ramen.",
        "fr": "Incident à Anderlecht.",
    }
    assert record.spec["headlines"] == {"nl": "Incident Anderlecht"}
    assert record.summary["template"] == "chemical"
    with pytest.raises(CampaignError, match=r"no value for placeholder.*place"):
        service.accept(engine, spec.model_copy(update={"params": {}}), key_name="test")
    with pytest.raises(CampaignError, match=r"parameter\(s\) place: the value is blank"):
        service.accept(engine, spec.model_copy(update={"params": {"place": " "}}), key_name="test")
    with pytest.raises(CampaignError, match="no template named 'nope'"):
        service.accept(engine, spec.model_copy(update={"template": "nope"}), key_name="test")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channels": ["sms"], "texts": TEXTS}, "needs a zone, groups, or both"),
        ({"zone": {"area": "21004"}, "channels": ["sms"]}, "either texts or a template"),
        ({"groups": ["nh-21004"], "channels": ["cell_broadcast"], "texts": TEXTS}, "need a zone"),
        ({"zone": {"area": "21004"}, "channels": ["sms", "sms"], "texts": TEXTS}, "listed twice"),
        ({"zone": {"area": "21004"}, "channels": ["fax"], "texts": TEXTS}, "channels"),
        ({"zone": {"area": "21004"}, "channels": ["sms"], "texts": {"xx": "hi"}}, "texts"),
    ],
)
def test_bad_campaigns_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CampaignSpec(**fields)


def test_bad_zone_or_group_is_refused_before_anything_is_stored(engine) -> None:
    from geoalert.zones import ZoneError
    from geodata.stores.groups import UnknownGroup

    with pytest.raises(ZoneError):
        service.accept(
            engine,
            CampaignSpec(zone={"area": "99999"}, channels=["sms"], texts=TEXTS),
            key_name="t",
        )
    with pytest.raises(UnknownGroup):
        service.accept(
            engine, CampaignSpec(groups=["nope"], channels=["sms"], texts=TEXTS), key_name="t"
        )
    assert CampaignStore(engine.store.engine).list() == []


def test_state_machine() -> None:
    check_transition("accepted", "queued")
    check_transition("sending", "cancelled")
    for current, new in [("finished", "sending"), ("accepted", "sending"), ("cancelled", "queued")]:
        with pytest.raises(CampaignError, match=f"a {current} campaign cannot become {new}"):
            check_transition(current, new)


def test_request_key_makes_a_retried_request_one_campaign(engine) -> None:
    spec = CampaignSpec(zone={"area": "21004"}, channels=["sms"], texts=TEXTS, mode="simulation")
    first = service.accept(engine, spec, key_name="t", request_key="abc")
    again = service.accept(engine, spec, key_name="t", request_key="abc")
    assert first.campaign_id == again.campaign_id
    assert len(CampaignStore(engine.store.engine).list()) == 1


def test_personal_data_never_logged(engine, servers, caplog) -> None:
    smsc, http, smtp = servers
    smtp.refuse.add("person0@example.org")
    http.reject_to.add(engine.store.read_contacts()["phone"].dropna().iloc[0])
    caplog.set_level(logging.DEBUG)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # the SMTP server's own log
    spec = CampaignSpec(zone={"area": "04000"}, channels=["sms", "voice", "email"], texts=TEXTS)
    record = service.accept(engine, spec, key_name="test")
    report = run(engine, record.campaign_id, providers_for(smsc, http, smtp))
    assert report["total"]["sent"] > 0
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not EMAIL_PATTERN.search(logged) and not PHONE_PATTERN.search(logged)
    stored = str(CampaignStore(engine.store.engine).messages(record.campaign_id))
    stored += str(report) + str(
        service.audit_record(CampaignStore(engine.store.engine).get(record.campaign_id))
    )
    assert not EMAIL_PATTERN.search(stored)
    assert not re.search(r"\+32\d{8}", stored)
    engine.store.append_audit(
        service.audit_record(CampaignStore(engine.store.engine).get(record.campaign_id))
    )


def test_unregistered_person_is_not_contacted(engine, servers) -> None:
    smsc, http, smtp = servers
    spec = CampaignSpec(zone={"area": "21004"}, channels=["sms"], texts=TEXTS)
    record = service.accept(engine, spec, key_name="test")
    store = CampaignStore(engine.store.engine)
    service.prepare(engine, store, store.get(record.campaign_id))
    gone = store.messages(record.campaign_id)[0]["contact_id"]
    engine.store.unregister_contact(int(gone))
    report = run(engine, record.campaign_id, providers_for(smsc, http, smtp))
    assert report["channels"]["sms"]["failed_reasons"] == {
        "no address for this channel any more (registration changed)": 1
    }
    assert len(smsc.received) == report["channels"]["sms"]["messages"] - 1


@pytest.mark.postgis
def test_live_campaign_on_postgresql(
    tiny_world: Path, tiny_template: str, postgis: str, servers
) -> None:
    from geoalert.testing.postgis import create_database, drop_database

    smsc, http, smtp = servers
    url = create_database(postgis, "campaigns_pg", template=tiny_template)
    engine = geoalert.Engine.open(tiny_world, db=url, include=PARTS)
    try:
        spec = CampaignSpec(zone={"area": "04000"}, channels=["sms", "email"], texts=TEXTS)
        record = service.accept(engine, spec, key_name="test")
        report = run(engine, record.campaign_id, providers_for(smsc, http, smtp))
        counts = collections.Counter(
            r["state"] for r in CampaignStore(engine.store.engine).messages(record.campaign_id)
        )
        assert report["channels"]["sms"]["delivered"] == len(smsc.received) > 0
        assert report["channels"]["email"]["sent"] == len(smtp.received) > 0
        assert set(counts) == {"delivered", "sent"}
    finally:
        engine.store.close()
        drop_database(url)


def test_targets_of_a_register_that_keeps_changing_are_refused():
    """Zone and groups must come from one state of the register; after a few attempts
    in which it changed in between, preparing gives up with a clear reason."""

    def selection():  # every call sees a new state of the register
        return types.SimpleNamespace(selection=types.SimpleNamespace(index=object(), rows=[]))

    calls = collections.Counter()

    def resolve(zone, include):
        calls["zone"] += 1
        return {"contacts": selection()}

    def resolve_groups(groups):
        calls["groups"] += 1
        return types.SimpleNamespace(contacts=selection())

    engine = types.SimpleNamespace(resolve=resolve, resolve_groups=resolve_groups)
    spec = CampaignSpec(
        zone={"area": "21004"}, groups=["nh-21004"], channels=["sms"], texts={"nl": "Test"}
    )
    with pytest.raises(CampaignError, match="changed while the targets were resolved, 5 times"):
        service._targets(engine, spec)
    assert calls == {"zone": service.TARGET_ATTEMPTS, "groups": service.TARGET_ATTEMPTS}
