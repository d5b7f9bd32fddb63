"""Campaign throughput: messages queued and handed to the adapters, against local providers.

The providers (an SMSC over SMPP, an SMTP sink with pipelining, an HTTP voice provider) run in
a separate process so that the sender has its own core, as a provider would be its own
machine. The world is synthetic (:func:`geoalert.testing.tiny_world.write_tiny_world` at the
size asked), its contacts seeded into the embedded store by its import path on first open.

For each channel alone, then all channels together, one live campaign on the whole world
(zone 04000): time to resolve and queue every message, then messages handed to the adapter
per second (from the first claim to the last outcome), end to end duration, and the
providers' count of distinct messages received (each exactly once).

    python benchmarks/bench_campaigns.py --contacts 2000000 --out /tmp/bench_campaigns
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
from pathlib import Path

from machine import machine

import geoalert
from geoalert.campaigns import service
from geoalert.campaigns.model import CampaignSpec
from geoalert.campaigns.queue import CampaignStore

TEXTS = {
    "nl": "Chemisch incident: blijf binnen, sluit ramen en deuren, zet ventilatie uit.",
    "fr": "Incident chimique : restez à l'intérieur, fermez portes et fenêtres.",
    "de": "Chemieunfall: bleiben Sie drinnen, schließen Sie Fenster und Türen.",
    "en": "Chemical incident: stay indoors, close doors and windows.",
}


def _providers(ports, commands) -> None:
    from geoalert.testing.fake_provider import FakeProvider
    from geoalert.testing.smpp_server import SmppServer
    from geoalert.testing.smtp_sink import SmtpSink

    smsc = SmppServer().start()
    http = FakeProvider(keep_messages=False).start()
    sink = SmtpSink().start()
    ports.put({"smpp": smsc.port, "http": http.url, "smtp": sink.port})
    while True:
        command = commands.get()
        if command == "stop":
            return
        ports.put(
            {
                "sms": len(smsc.unique),
                "sms_submits": len(smsc.received),
                "voice": len(http.unique),
                "email": len(sink.message_ids),
                "email_messages": sink.messages,
            }
        )


def world(out: Path, contacts: int) -> Path:
    from geoalert.testing.tiny_world import write_tiny_world

    path = out / f"world_{contacts}"
    if not (path / "contacts.parquet").exists():
        t = time.perf_counter()
        write_tiny_world(path, n_addresses=max(400, contacts // 2), n_contacts=contacts)
        print(f"world of {contacts:,} contacts written in {time.perf_counter() - t:.1f} s")
    return path


def campaign(engine, providers: dict, channels: list[str]) -> dict:
    spec = CampaignSpec(zone={"area": "04000"}, channels=channels, texts=TEXTS)
    done_at: dict[str, float] = {}
    first: dict[str, float] = {}

    def progress(p: dict) -> None:
        now = time.perf_counter()
        for channel, states in p["channels"].items():
            total = sum(states.values())
            open_ = sum(states.get(s, 0) for s in ("queued", "sending", "retry"))
            if open_ < total:
                first.setdefault(channel, now)
            if open_ == 0 and channel not in done_at:
                done_at[channel] = now

    t0 = time.perf_counter()
    record = service.accept(engine, spec, key_name="bench")
    store = CampaignStore(engine.store.engine)
    ranges = service.prepare(engine, store, store.get(record.campaign_id))
    t1 = time.perf_counter()
    report = asyncio.run(
        service.send(
            engine.store,
            record.campaign_id,
            engine.settings,
            providers=providers,
            on_progress=progress,
        )
    )
    t2 = time.perf_counter()
    messages = sum(hi - lo for lo, hi in ranges.values())
    out = {
        "channels": channels,
        "messages": messages,
        "queue_s": round(t1 - t0, 2),
        "queued_per_s": round(messages / (t1 - t0)),
        "send_s": round(t2 - t1, 2),
        "end_to_end_s": round(t2 - t0, 2),
        "per_channel": {},
    }
    for channel, (lo, hi) in ranges.items():
        n = hi - lo
        took = done_at.get(channel, t2) - t1
        c = report["channels"][channel]
        out["per_channel"][channel] = {
            "messages": n,
            "handed_per_s": round(n / took),
            "per_min": round(60 * n / took),
            "sent": c["sent"],
            "failed": c["failed"],
        }
    out["cost_eur"] = report["cost_eur"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_campaigns"))
    parser.add_argument("--only-together", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = world(args.out, args.contacts)
    (path / "store.sqlite").unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (path / f"store.sqlite{suffix}").unlink(missing_ok=True)
    t = time.perf_counter()
    engine = geoalert.Engine.open(path, include=["cells", "addresses", "contacts"])
    print(f"store seeded and world opened in {time.perf_counter() - t:.1f} s")

    ports, commands = mp.Queue(), mp.Queue()
    proc = mp.Process(target=_providers, args=(ports, commands), daemon=True)
    proc.start()
    port = ports.get(timeout=60)
    unlimited = {"rate_per_s": 1e9, "receipt_wait_s": 30.0, "timeout_s": 30.0}
    providers = {
        "sms": {
            "adapter": "smpp",
            "port": port["smpp"],
            "password": "secret",
            "batch": 5_000,
            "window": 5_000,
            **unlimited,
        },
        "email": {"adapter": "smtp", "port": port["smtp"], "batch": 5_000, **unlimited},
        "voice": {"adapter": "http-voice", "url": port["http"], "batch": 1_000, **unlimited},
    }
    results = []
    runs = [] if args.only_together else [["sms"], ["email"], ["voice"]]
    for channels in [*runs, ["sms", "voice", "email"]]:
        result = campaign(engine, providers, channels)
        commands.put("count")
        result["providers_received"] = ports.get(timeout=60)
        print(json.dumps(result))
        results.append(result)
    commands.put("stop")
    proc.join(10)
    summary = {
        "contacts": args.contacts,
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    (args.out / f"results_{args.contacts}.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
