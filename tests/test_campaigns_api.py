"""``/v1/campaigns`` over the tiny world: launch, live events (SSE), report, cancel, roles,
jurisdictions, audit, and a store that cannot be written (503, nothing lost)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_helpers import assert_problem, bearer
from fastapi.testclient import TestClient

from api.app import create_app
from geoalert.campaigns import service
from geoalert.campaigns.model import CampaignError
from geoalert.campaigns.queue import CampaignStore
from geoalert.keys import create_key
from geoalert.settings import Settings
from geoalert.testing.fake_provider import FakeProvider
from geodata.masking import EMAIL_PATTERN
from geodata.stores import open_store

TEXTS = {"nl": "Sluit ramen en deuren.", "fr": "Fermez portes et fenêtres."}
KEYS = {
    "federal": ("federal", None),
    "mayor": ("mayor", "21004"),
    "other-mayor": ("mayor", "21001"),
    "operator": ("operator", None),
    "groups": ("group-only", "21004"),
}


@pytest.fixture(scope="module")
def provider():
    with FakeProvider() as fake:
        yield fake


@pytest.fixture(scope="module")
def served(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory, provider):
    world = tmp_path_factory.mktemp("campaigns_api") / "world"
    shutil.copytree(tiny_world, world)
    keys = {}
    with open_store(world) as store:
        for name, (role, area) in KEYS.items():
            keys[name], _ = create_key(store, role, area, name)
    providers = world.parent / "providers.json"
    fast = {"url": provider.url, "backoff_s": 0.01, "receipt_wait_s": 2.0}
    providers.write_text(
        json.dumps(
            {
                "sms": {"adapter": "http-sms", "rate_per_s": 20, "batch": 2, **fast},
                "voice": {"adapter": "http-voice", **fast},
                "email": {"adapter": "http-sms", **fast},
            }
        )
    )
    settings = Settings(
        data_dir=world, campaign_providers=providers, api_rate_per_s=1_000, api_rate_burst=1_000
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, keys, world


def launch(client, key: str, body: dict, **headers):
    return client.post("/v1/campaigns", json=body, headers={**bearer(key), **headers})


def events(client, key: str, campaign_id: int) -> list[tuple[str, dict]]:
    out = []
    with client.stream("GET", f"/v1/campaigns/{campaign_id}/events", headers=bearer(key)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
    return out


def test_launch_follow_and_report(served) -> None:
    client, keys, world = served
    body = {
        "zone": {"area": "21004"},
        "channels": ["sms", "voice"],
        "texts": TEXTS,
        "mode": "simulation",
    }
    response = launch(client, keys["mayor"], body)
    assert response.status_code == 202, response.text
    campaign = response.json()
    assert response.headers["Location"] == f"/v1/campaigns/{campaign['campaign_id']}"
    assert campaign["state"] == "accepted"
    stream = events(client, keys["mayor"], campaign["campaign_id"])
    assert stream[-1][0] == "report" and all(name == "progress" for name, _ in stream[:-1])
    report = stream[-1][1]
    assert report["state"] == "finished" and report["mode"] == "simulation"
    assert report["channels"]["sms"]["delivered"] == report["channels"]["sms"]["messages"] > 0
    assert (
        client.get(
            f"/v1/campaigns/{campaign['campaign_id']}/report", headers=bearer(keys["mayor"])
        ).json()["total"]
        == report["total"]
    )
    seen = client.get(
        f"/v1/campaigns/{campaign['campaign_id']}", headers=bearer(keys["mayor"])
    ).json()
    assert seen["state"] == "finished"
    assert (
        sum(seen["progress"]["channels"]["sms"].values()) == report["channels"]["sms"]["messages"]
    )
    with open_store(world) as store:
        audit = [r for r in store.read_audit() if r.get("campaign_id") == campaign["campaign_id"]]
    assert [r["action"] for r in audit] == ["campaign", "campaign-end"]
    assert all(r["key_name"] == "mayor" for r in audit)
    assert audit[0]["channels"] == ["sms", "voice"] and "zone_hash" in audit[0]
    assert not EMAIL_PATTERN.search(str(audit))


def test_live_campaign_through_the_http_provider(served, provider) -> None:
    client, keys, _ = served
    before = len(provider.unique)
    body = {"groups": ["nh-21004"], "channels": ["sms"], "texts": TEXTS}
    response = launch(client, keys["groups"], body)
    assert response.status_code == 202, response.text
    report = events(client, keys["groups"], response.json()["campaign_id"])[-1][1]
    assert report["channels"]["sms"]["delivered"] == report["channels"]["sms"]["messages"] > 0
    assert len(provider.unique) - before == report["channels"]["sms"]["messages"]


@pytest.mark.parametrize(
    ("key", "body", "status", "slug"),
    [
        ("other-mayor", {"zone": {"area": "21004"}}, 403, "outside-jurisdiction"),
        ("operator", {"zone": {"area": "21004"}}, 403, "not-permitted"),
        ("groups", {"zone": {"area": "21004"}}, 403, "not-permitted"),
        ("groups", {"groups": ["resp-04000"]}, 403, "outside-jurisdiction"),
        ("federal", {"groups": ["nope"]}, 404, "not-found"),
        ("federal", {"zone": {"area": "99999"}}, 422, "invalid-zone"),
        ("federal", {"zone": {"area": "21004"}, "texts": None}, 422, "invalid-request"),
        ("federal", {"zone": {"area": "21004"}, "template": "none"}, 422, None),
        (None, {"zone": {"area": "21004"}}, 401, "unauthenticated"),
    ],
)
def test_refusals(served, key, body, status, slug) -> None:
    client, keys, world = served
    full = {"channels": ["sms"], "texts": TEXTS, "mode": "simulation", **body}
    if full.get("template"):
        full.pop("texts")
    headers = bearer(keys[key]) if key else {}
    with open_store(world) as store:
        before = len(CampaignStore(store.engine).list())
    problem = assert_problem(client.post("/v1/campaigns", json=full, headers=headers), status)
    if slug:
        assert problem["type"] == f"/problems/{slug}"
    with open_store(world) as store:
        assert len(CampaignStore(store.engine).list()) == before  # nothing accepted


def test_store_unavailable_answers_503_and_loses_nothing(served, monkeypatch) -> None:
    client, keys, world = served
    body = {"zone": {"area": "21004"}, "channels": ["sms"], "texts": TEXTS, "mode": "simulation"}
    with open_store(world) as store:
        before = len(CampaignStore(store.engine).list())

    def down(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT INTO campaigns", {}, Exception("disk I/O error"))

    with monkeypatch.context() as patch:
        patch.setattr(CampaignStore, "create", down)
        problem = assert_problem(
            launch(client, keys["federal"], body, **{"Idempotency-Key": "k1"}), 503
        )
    assert "nothing was accepted" in problem["detail"]
    with open_store(world) as store:
        assert len(CampaignStore(store.engine).list()) == before
    first = launch(client, keys["federal"], body, **{"Idempotency-Key": "k1"})
    again = launch(client, keys["federal"], body, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 202
    assert first.json()["campaign_id"] == again.json()["campaign_id"]
    assert (
        events(client, keys["federal"], first.json()["campaign_id"])[-1][1]["state"] == "finished"
    )


def test_cancel(served, provider) -> None:
    client, keys, _ = served
    body = {"zone": {"area": "04000"}, "channels": ["sms"], "texts": TEXTS}
    campaign_id = launch(client, keys["federal"], body).json()["campaign_id"]
    assert_problem(
        client.post(f"/v1/campaigns/{campaign_id}/cancel", headers=bearer(keys["mayor"])), 403
    )
    response = client.post(f"/v1/campaigns/{campaign_id}/cancel", headers=bearer(keys["federal"]))
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    report = events(client, keys["federal"], campaign_id)[-1][1]
    assert report["state"] == "cancelled"
    sms = report["channels"]["sms"]
    assert (
        sms["cancelled"] > 0
        and sms["open"] == 0
        and sms["sent"] + sms["cancelled"] == sms["messages"]
    )
    assert_problem(client.get("/v1/campaigns/999999", headers=bearer(keys["federal"])), 404)


def test_recent_campaigns_and_templates(served, monkeypatch) -> None:
    client, keys, world = served
    body = {"zone": {"area": "21004"}, "channels": ["sms"], "texts": TEXTS, "mode": "simulation"}
    mine = launch(client, keys["mayor"], body).json()["campaign_id"]
    other = launch(client, keys["federal"], body).json()["campaign_id"]
    # A mayor sees the campaigns it launched, newest first; a federal key sees every one.
    listed = client.get("/v1/campaigns", headers=bearer(keys["mayor"])).json()["campaigns"]
    ids = [c["campaign_id"] for c in listed]
    assert ids[0] == mine and other not in ids and ids == sorted(ids, reverse=True)
    assert all(c["launched_by"] == "mayor" for c in listed)
    newest = client.get("/v1/campaigns", params={"limit": 2}, headers=bearer(keys["federal"]))
    assert [c["campaign_id"] for c in newest.json()["campaigns"]] == [other, mine]
    view = client.get(f"/v1/campaigns/{mine}", headers=bearer(keys["mayor"])).json()
    assert set(newest.json()["campaigns"][1]) == set(view)
    assert client.get("/v1/campaigns", headers=bearer(keys["operator"])).json() == {"campaigns": []}
    assert_problem(
        client.get("/v1/campaigns", params={"limit": 0}, headers=bearer(keys["mayor"])), 422
    )
    assert_problem(client.get("/v1/campaigns"), 401)

    with open_store(world) as store:
        CampaignStore(store.engine).save_template(
            "flood", {"texts": {"nl": "Water in $street.", "fr": "Eau rue $street."}}
        )
    templates = client.get("/v1/campaigns/templates", headers=bearer(keys["mayor"]))
    assert {"name": "flood", "texts": {"nl": "Water in $street.", "fr": "Eau rue $street."}} in (
        templates.json()["templates"]
    )
    assert_problem(client.get("/v1/campaigns/templates"), 401)

    def down(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT", {}, Exception("disk I/O error"))

    with monkeypatch.context() as patch:
        patch.setattr(CampaignStore, "recent", down)
        assert_problem(client.get("/v1/campaigns", headers=bearer(keys["mayor"])), 503)


def test_campaign_that_cannot_be_prepared_is_failed_with_its_reason(served, monkeypatch) -> None:
    client, keys, _ = served

    def unreadable(engine, spec):
        raise CampaignError("the register could not be read")

    monkeypatch.setattr(service, "_targets", unreadable)
    body = {"zone": {"area": "21004"}, "channels": ["sms"], "texts": TEXTS}
    campaign_id = launch(client, keys["federal"], body).json()["campaign_id"]
    for _ in range(100):
        view = client.get(f"/v1/campaigns/{campaign_id}", headers=bearer(keys["federal"])).json()
        if view["state"] != "accepted":
            break
        time.sleep(0.05)
    assert view["state"] == "failed"
    assert view["error"] == "the register could not be read"
