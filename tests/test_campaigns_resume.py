"""Kill the sender at random points, restart it: every message delivered exactly once.

The sender runs as ``geoalert alert resume`` in a subprocess, against an SMSC (SMPP), an HTTP
voice provider and an SMTP server running in this process. It is killed with SIGKILL at
random moments while it sends, several times, then left to finish. The providers record every
submission; the accounting must be exact:

- every message of the queue reached its provider, and no provider delivered one twice
  (each keeps one delivery per idempotency key);
- every submission seen twice is a message that was in doubt (state ``sending``) at a kill,
  so re-sent with its key: nothing else was ever sent again;
- every message ended delivered (SMS, voice) or sent (e-mail), and the report says so.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import geoalert
from geoalert.campaigns import service
from geoalert.campaigns.model import CampaignSpec
from geoalert.campaigns.queue import CampaignStore, message_key
from geoalert.testing.fake_provider import FakeProvider
from geoalert.testing.smpp_server import SmppServer
from geoalert.testing.smtp_server import SmtpServer
from geoalert.testing.tiny_world import write_tiny_world

KILLS = 3


def _sending(url: str, campaign_id: int) -> tuple[int, set[int]]:
    """(messages no longer queued, seqs in doubt) read straight from the store."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT seq, state FROM campaign_messages WHERE campaign_id = :c"),
            {"c": campaign_id},
        ).all()
    engine.dispose()
    return sum(state != "queued" for _, state in rows), {s for s, st in rows if st == "sending"}


@pytest.mark.parametrize("seed", [1])
def test_killed_sender_resumes_without_losing_or_repeating(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    world = write_tiny_world(tmp_path / "world", n_addresses=1_500, n_contacts=2_000, seed=seed)
    engine = geoalert.Engine.open(world, include=["cells", "addresses", "contacts"])
    spec = CampaignSpec(
        zone={"area": "04000"},
        channels=["sms", "voice", "email"],
        texts={"nl": "Sluit ramen en deuren.", "fr": "Fermez portes et fenêtres."},
    )
    record = service.accept(engine, spec, key_name="test")
    store = CampaignStore(engine.store.engine)
    service.prepare(engine, store, record)
    rows = store.messages(record.campaign_id)
    url = str(engine.store.engine.url)
    engine.store.close()

    with SmppServer() as smsc, FakeProvider() as http, SmtpServer() as smtp:
        providers = tmp_path / "providers.json"
        common = {"backoff_s": 0.05, "receipt_wait_s": 15.0, "timeout_s": 5.0}
        providers.write_text(
            json.dumps(
                {
                    "sms": {
                        "adapter": "smpp",
                        "port": smsc.port,
                        "password": "secret",
                        "rate_per_s": 2_000,
                        "batch": 100,
                        **common,
                    },
                    "voice": {
                        "adapter": "http-voice",
                        "url": http.url,
                        "rate_per_s": 200,
                        "batch": 20,
                        **common,
                    },
                    "email": {
                        "adapter": "smtp",
                        "port": smtp.port,
                        "rate_per_s": 400,
                        "batch": 40,
                        **common,
                    },
                }
            )
        )
        command = [
            sys.executable,
            "-c",
            "from geoalert.cli import app; app()",
            "alert",
            "resume",
            "--data",
            str(world),
            "--providers",
            str(providers),
            "--quiet",
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        in_doubt: set[int] = set()
        kills = 0
        started = time.monotonic()
        while kills < KILLS:
            before, _ = _sending(url, record.campaign_id)
            proc = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            # Kill once it has moved some messages, at a random moment after.
            while proc.poll() is None and _sending(url, record.campaign_id)[0] == before:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is not None:
                break  # finished before the kill: nothing left to interrupt
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            in_doubt |= _sending(url, record.campaign_id)[1]
        final = subprocess.run(command, env=env, capture_output=True, timeout=60)
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        elapsed = time.monotonic() - started

        store = CampaignStore(sa.create_engine(url))
        done = store.messages(record.campaign_id)
        key_of = {r["seq"]: message_key(record.uid, r["seq"]) for r in done}
        doubtful_keys = {key_of[s] for s in in_doubt}
        by_channel = {
            c: {key_of[r["seq"]] for r in done if r["channel"] == c}
            for c in ("sms", "voice", "email")
        }

        # Every message reached its provider exactly once (one delivery per key).
        assert set(smsc.unique) == by_channel["sms"]
        assert {k for k in http.unique} == by_channel["voice"]
        assert {mid.strip("<>").split("@")[0] for mid, _ in smtp.unique} == by_channel["email"]
        assert len(smtp.unique) == len(by_channel["email"])
        # Exact accounting of what was received twice: only messages in doubt at a kill.
        for received, keys in (
            ([s.key for s in smsc.received], by_channel["sms"]),
            ([m["key"] for m in http.received], by_channel["voice"]),
            ([mid.strip("<>").split("@")[0] for mid, _, _ in smtp.received], by_channel["email"]),
        ):
            counted = collections.Counter(received)
            assert set(counted) == keys
            assert {k for k, n in counted.items() if n > 1} <= doubtful_keys
            assert len(received) - len(counted) <= len(doubtful_keys & keys)
        assert smsc.duplicates + http.duplicates + smtp.duplicates == sum(
            len(r) - len(set(r))
            for r in (
                [s.key for s in smsc.received],
                [m["key"] for m in http.received],
                [m[0] for m in smtp.received],
            )
        )
        # Every message ended where it should; the report adds up.
        assert {r["state"] for r in done if r["channel"] != "email"} == {"delivered"}
        assert {r["state"] for r in done if r["channel"] == "email"} == {"sent"}
        report = service.report(store, record.campaign_id)
        assert report["state"] == "finished"
        assert report["total"]["messages"] == len(rows) == len(done)
        assert report["total"]["sent"] == len(rows) and report["total"]["failed"] == 0
        assert kills >= 2, f"only {kills} kills happened"
        assert elapsed < 90
