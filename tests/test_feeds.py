"""Operator event feeds: the sample world's feed, its aggregation on Dask and in pandas, the
presence window, k-anonymity, the engine reading the result, and a real Dask cluster.

The sample feed holds 2% of the sample world's devices (a few seconds to write and read); it is
written by ``geoalert demo-data --events-only`` beside the sample world's files.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cells.feeds import events as ev
from cells.feeds.aggregate import (
    Windows,
    presence_table,
    present_devices,
    present_devices_pandas,
    read_cells,
    shard_counts,
)
from cells.feeds.layout import EVENT_TYPES, SCHEMA, Feed, FeedError, hour_name
from cells.feeds.writer import FeedWriter
from geoalert.cli import app

SHARE = 0.02
TZ = "Europe/Brussels"


def linked_world(sample_world: Path, world: Path, *names: str) -> Path:
    """``world``, a directory of links to the sample world's files ``names``."""
    world.mkdir()
    for name in names:
        (world / name).symlink_to(sample_world / name)
    return world


def demo_data(world: Path, *args: str) -> object:
    return CliRunner().invoke(app, ["demo-data", "--out", str(world), *args])


def said(result) -> str:
    """A command's output as one line: wrapping and the frames of error panels removed."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", result.output)


FEED_INPUTS = ("manifest.json", "cells.parquet", "truth.parquet", "presence.parquet")
"""What ``demo-data --events-only`` reads of a world."""


@pytest.fixture(scope="module")
def sample_feed(sample_world, tmp_path_factory):
    """The sample world's feed for 2% of its devices (``geoalert demo-data --events-only``),
    and those devices as the presence simulation attached them: per bucket (time, device_id,
    home_mcc, cell_id, person_id)."""
    attached = []
    write_bucket = FeedWriter.write_bucket
    world_ids = pq.read_table(sample_world / "cells.parquet", columns=["cell_id"])
    world_ids = world_ids["cell_id"].to_numpy()

    def spy(self, time, person_id, slot, home_mcc, cell):
        device_id = ev.device_ids(person_id, slot, self.seed)
        mine = ev.in_share(device_id, self.seed, self.share)
        attached.append(
            (time, device_id[mine], home_mcc[mine], world_ids[cell[mine]], person_id[mine])
        )
        write_bucket(self, time, person_id, slot, home_mcc, cell)

    world = linked_world(sample_world, tmp_path_factory.mktemp("feed") / "world", *FEED_INPUTS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FeedWriter, "write_bucket", spy)
        result = demo_data(
            world, "--events-only", "--events-share", str(SHARE), "--events-shards", "4"
        )
    assert result.exit_code == 0, result.output
    feed = Feed.open(world / "events")
    assert f"{feed.info['events']:,} events of {feed.info['device_stays']:,}" in said(result)
    return feed, attached


@pytest.fixture(scope="module")
def cells(sample_world):
    return read_cells(sample_world / "cells.parquet")


@pytest.fixture(scope="module")
def events(sample_feed):
    frame = pd.read_parquet(sample_feed[0].path, columns=[f.name for f in SCHEMA])
    return frame.assign(cell_id=frame["cell_id"].astype(str), event=frame["event"].astype(str))


def windows(feed: Feed, window: str) -> Windows:
    return Windows(feed.bucket_times, feed.bucket_length, pd.Timedelta(window))


def dask_counts(feed: Feed, cell_ids, win: Windows) -> pd.DataFrame:
    with dask.config.set(scheduler="threads", num_workers=2):
        return present_devices(shard_counts(feed, cell_ids, win))


# -- the feed ---------------------------------------------------------------------------------


def test_feed_files_follow_the_layout(sample_feed, events):
    feed, _ = sample_feed
    assert (feed.shards, feed.info["share"]) == (4, SHARE)
    assert {shard for _, shard in feed.files} == set(range(4))
    assert {hour_name(hour) for hour, _ in feed.files} == set(feed.info["events_by_hour"])
    assert pq.read_schema(next(iter(feed.files.values()))[0]).equals(SCHEMA)
    assert len(events) == feed.info["events"] == sum(feed.info["events_by_hour"].values())
    assert set(events["event"]) == set(EVENT_TYPES)
    for (hour, shard), files in feed.files.items():
        table = pq.read_table(files, columns=["device_id", "time"])
        device = table["device_id"].to_numpy()
        assert (device.view(np.uint64) % np.uint64(feed.shards) == shard).all()
        ms = table["time"].cast("int64").to_numpy()
        assert (ms // 3_600_000 == hour).all()


def test_feed_counts_every_attached_device_within_the_longest_silence(sample_feed, cells):
    """A window of the longest silence (3 h) inside the stays sees every switched-on device
    of the feed's share, in the cell the presence simulation attached it to."""
    feed, attached = sample_feed
    got = present_devices_pandas(feed.path, cells["cell_id"].to_numpy(object), windows(feed, "3h"))
    index = pd.Index(cells["cell_id"])
    expected = pd.concat(
        pd.DataFrame({"bucket": b, "cell": index.get_indexer(cell), "home_mcc": mcc})
        for b, (_, _, mcc, cell, _) in enumerate(attached)
    )
    expected = expected.value_counts().rename("devices").reset_index()
    expected = expected.sort_values(["bucket", "cell", "home_mcc"], ignore_index=True)
    assert got["devices"].sum() == feed.info["device_stays"] > 100_000
    pd.testing.assert_frame_equal(got, expected.astype(got.dtypes.to_dict()))


def test_events_are_the_attached_devices_in_their_cells_during_their_stays(
    sample_feed, events, cells
):
    """Every event lies within the day, in a cell of the world, during a stay in which the
    presence simulation attached its device, in that device's cell and under its home MCC;
    every attached device shows up in its stay. Device ids are pseudonymous: none is a
    person id of the truth."""
    feed, attached = sample_feed
    stays = ev.stays(feed.bucket_times, feed.bucket_length)
    assert events["time"].min() >= stays[0][0] and events["time"].max() < stays[-1][1]
    assert events["cell_id"].isin(cells["cell_id"]).all()
    ends = pd.DatetimeIndex([b for _, b in stays]).as_unit("ms").asi8
    stay = np.searchsorted(ends, events["time"].astype("int64"), "right")
    expected = pd.concat(
        pd.DataFrame({"stay": b, "device_id": device, "mcc": mcc, "cell": cell})
        for b, (_, device, mcc, cell, _) in enumerate(attached)
    )
    assert not expected.duplicated(["stay", "device_id"]).any()
    got = events.assign(stay=stay).merge(expected, on=["stay", "device_id"], how="outer")
    assert got["cell_id"].notna().all() and got["cell"].notna().all()
    assert (got["cell_id"] == got["cell"]).all() and (got["home_mcc"] == got["mcc"]).all()
    people = np.concatenate([person for *_, person in attached])
    assert not events["device_id"].isin(people).any()


def test_event_rates(sample_feed, events):
    """Quiet nights and commute bursts; location updates at each device's own period; every
    device seen at least every 3 h in a stay, and some silent for over 2 h."""
    feed, _ = sample_feed
    local = events["time"].dt.tz_convert(TZ).dt.hour
    activity = events[events["event"] != "location_update"]
    by_hour = activity.groupby(local[activity.index]).size()
    assert by_hour[8] > 8 * by_hour[3]
    assert by_hour[17] > 1.3 * by_hour[14]
    shares = activity["event"].value_counts(normalize=True)
    for kind, share in ev.SESSION_TYPES.items():
        assert shares[kind] == pytest.approx(share, abs=0.01)

    ends = pd.DatetimeIndex([b for _, b in ev.stays(feed.bucket_times, feed.bucket_length)])
    stay = np.searchsorted(ends.as_unit("ms").asi8, events["time"].astype("int64"), "right")
    frame = events.assign(stay=stay).sort_values(["device_id", "time"])
    gap = frame.groupby(["stay", "device_id"])["time"].diff().dt.total_seconds()
    assert gap.max() <= ev.MAX_SILENCE.total_seconds()
    silent = frame.assign(gap=gap).groupby(["stay", "device_id"])["gap"].max() > 7200
    assert 0.005 < silent.mean() < 0.2
    updates = frame[frame["event"] == "location_update"]
    step = updates.groupby(["stay", "device_id"])["time"].diff().dt.total_seconds().dropna()
    periods = np.array(list(ev.LOCATION_UPDATE_PERIODS_S))
    assert (np.abs(step.to_numpy()[:, None] - periods).min(axis=1) <= 0.001).all()


def test_stays_cover_the_day_around_each_bucket():
    times = pd.DatetimeIndex(
        [pd.Timestamp(f"2024-03-12 {h:02d}:00", tz=TZ) for h in (3, 8, 14, 20)]
    )
    stays = ev.stays(times, pd.Timedelta("1h"))
    assert stays[0][0] == pd.Timestamp("2024-03-12", tz=TZ)
    assert stays[-1][1] == pd.Timestamp("2024-03-13", tz=TZ)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(stays))
    assert all(
        a <= t and t + pd.Timedelta("1h") <= b for (a, b), t in zip(stays, times, strict=True)
    )
    with pytest.raises(ValueError, match="overlap"):
        ev.stays(times[[1, 0]], pd.Timedelta("1h"))
    with pytest.raises(ValueError, match="one day"):
        ev.stays(times, pd.Timedelta("5h"))


# -- aggregation: Dask and pandas, window, k-anonymity -----------------------------------------


@pytest.mark.parametrize("window", ["1h", "2h"])
def test_dask_and_pandas_give_identical_counts(sample_feed, cells, window):
    feed, _ = sample_feed
    ids = cells["cell_id"].to_numpy(object)
    win = windows(feed, window)
    on_dask = dask_counts(feed, ids, win)
    in_pandas = present_devices_pandas(feed.path, ids, win)
    assert len(on_dask) > 10_000
    pd.testing.assert_frame_equal(on_dask, in_pandas)
    pd.testing.assert_frame_equal(
        presence_table(on_dask, cells, win, 15)[0], presence_table(in_pandas, cells, win, 15)[0]
    )


def test_a_longer_window_counts_more_devices(sample_feed, cells):
    """Up to the longest silence, a window sees the same devices in the same cells, plus the
    ones silent for longer than a shorter window."""
    feed, _ = sample_feed
    ids = cells["cell_id"].to_numpy(object)
    keys = ["bucket", "cell", "home_mcc"]
    previous = None
    for window in ("30min", "1h", "2h", "3h"):
        counts = present_devices_pandas(feed.path, ids, windows(feed, window)).set_index(keys)
        if previous is not None:
            assert counts["devices"].sum() > previous.sum()
            assert (previous <= counts["devices"].reindex(previous.index, fill_value=0)).all()
        previous = counts["devices"]


@pytest.fixture
def small_feed(tmp_path):
    """Six devices around the 14:00 bucket, each showing one rule of the window."""
    at = pd.Timestamp("2024-03-12 14:00", tz=TZ)
    cell_ids = np.array(["206-01-1-1", "206-01-1-2", "206-10-5-1"], dtype=object)
    a, b, c = 0, 1, 2
    rows = [  # device, cell, time, home MCC
        (1, a, "12:00"), (1, b, "13:00"),  # the window's first millisecond counts
        (2, a, "12:59:59.999"),  # silent for just over 2 h
        (3, a, "14:30"), (3, c, "14:59:59.999"),  # moved: counted where last seen
        (4, a, "13:30"), (4, b, "15:00"),  # the bucket's end is out
        (5, a, "14:10", 208),  # a roamer
        (6, a, "14:20"), (6, b, "14:20"),  # two cells at once: the larger id
    ]  # fmt: skip
    rows = [(*r, 206) if len(r) == 3 else r for r in rows]
    device, cell, clock, mcc = (np.array(x) for x in zip(*rows, strict=True))
    ms = pd.DatetimeIndex([pd.Timestamp(f"2024-03-12 {t}", tz=TZ) for t in clock]).as_unit("ms")
    times = pd.DatetimeIndex([pd.Timestamp("2024-03-12 03:00", tz=TZ), at])
    with FeedWriter(tmp_path / "events", cell_ids, times, pd.Timedelta("1h"), 0, shards=2) as w:
        w.write_events(device, cell, ms.asi8, np.zeros(len(rows), np.int8), mcc.astype(np.int16))
    cells = pd.DataFrame({"cell_id": cell_ids, "operator": ["01", "01", "10"]})
    return Feed.open(tmp_path / "events"), cells


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("2h", {(0, 206): 1, (0, 208): 1, (1, 206): 2, (2, 206): 1}),
        ("3h", {(0, 206): 2, (0, 208): 1, (1, 206): 2, (2, 206): 1}),
        ("1h", {(0, 208): 1, (1, 206): 1, (2, 206): 1}),
    ],
)
def test_window_semantics(small_feed, window, expected):
    feed, cells = small_feed
    ids = cells["cell_id"].to_numpy(object)
    win = windows(feed, window)
    for counts in (dask_counts(feed, ids, win), present_devices_pandas(feed.path, ids, win)):
        assert (counts["bucket"] == 1).all()  # nothing in the night bucket
        got = counts.set_index(["cell", "home_mcc"])["devices"].to_dict()
        assert got == expected


def test_small_counts_are_suppressed(small_feed):
    feed, cells = small_feed
    ids = cells["cell_id"].to_numpy(object)
    counts = dask_counts(feed, ids, windows(feed, "2h"))
    presence, report = presence_table(counts, cells, windows(feed, "2h"), k=2)
    day = presence[presence["time"] == pd.Timestamp("2024-03-12 14:00", tz=TZ)]
    assert day.set_index(["cell_id", "home_mcc"])["devices"].to_dict() == {
        ("206-01-1-1", 206): 0,
        ("206-01-1-2", 206): 2,
        ("206-10-5-1", 206): 0,
    }
    assert report == {"devices": 5, "suppressed_counts": 3, "suppressed_devices": 3}


@settings(max_examples=100, deadline=None)
@given(
    counts=st.lists(
        st.tuples(
            st.integers(0, 1),
            st.integers(0, 4),
            st.sampled_from([206, 208, 262]),
            st.integers(1, 40),
        ),
        unique_by=lambda r: r[:3],
        max_size=30,
    ),
    k=st.integers(1, 20),
)
def test_no_published_count_is_below_k(counts, k):
    cells = pd.DataFrame({"cell_id": [f"206-01-9-{i}" for i in range(5)], "operator": "01"})
    win = Windows(
        pd.DatetimeIndex(
            [pd.Timestamp("2024-03-12 03:00", tz=TZ), pd.Timestamp("2024-03-12 14:00", tz=TZ)]
        ),
        pd.Timedelta("1h"),
        pd.Timedelta("2h"),
    )
    frame = pd.DataFrame(counts, columns=["bucket", "cell", "home_mcc", "devices"])
    presence, report = presence_table(frame, cells, win, k)
    devices = presence["devices"].to_numpy()
    assert not ((devices > 0) & (devices < k)).any()
    home = presence[presence["home_mcc"] == 206]
    assert len(home) == 10 and not home.duplicated(["cell_id", "time"]).any()
    assert (presence.loc[presence["home_mcc"] != 206, "devices"] >= k).all()
    shown = frame[frame["devices"] >= k]
    assert devices.sum() == shown["devices"].sum()
    assert report["suppressed_devices"] == frame["devices"].sum() - devices.sum()
    assert presence.equals(presence.sort_values(["time", "cell_id", "home_mcc"]))


def test_sample_counts_are_k_anonymous(sample_feed, cells):
    feed, _ = sample_feed
    win = windows(feed, "2h")
    counts = dask_counts(feed, cells["cell_id"].to_numpy(object), win)
    presence, report = presence_table(counts, cells, win, 15)
    assert not presence["devices"].between(1, 14).any()
    assert report["suppressed_counts"] == (counts["devices"] < 15).sum() > 0
    assert presence["devices"].sum() == report["devices"] - report["suppressed_devices"]


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "message"),
    [
        (None, r"has no _feed\.json"),
        ({"format": "other/1"}, "format 'other/1'"),
        ({"format": "geoalert-events/1"}, "not a feed description .*shards"),
    ],
)
def test_a_directory_that_is_not_a_feed_is_refused(tmp_path, description, message):
    if description is not None:
        (tmp_path / "_feed.json").write_text(json.dumps(description))
    with pytest.raises(FeedError, match=message):
        Feed.open(tmp_path)


def test_unknown_cells_are_refused_by_both_paths(small_feed):
    feed, cells = small_feed
    ids = cells["cell_id"].to_numpy(object)[:2]
    win = windows(feed, "2h")
    with pytest.raises(FeedError, match="206-10-5-1"):
        dask_counts(feed, ids, win)
    with pytest.raises(FeedError, match="206-10-5-1"):
        present_devices_pandas(feed.path, ids, win)


def test_a_device_in_the_wrong_shard_is_refused(small_feed):
    feed, cells = small_feed
    for (_, shard), files in feed.files.items():
        for file in files if shard == 0 else []:
            target = Path(str(file).replace("shard=00", "shard=01")).with_name("moved.parquet")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(file, target)
    with pytest.raises(FeedError, match="shard 1 holds devices of other shards"):
        dask_counts(Feed.open(feed.path), cells["cell_id"].to_numpy(object), windows(feed, "2h"))


@pytest.mark.parametrize("tampered", [False, True])
def test_demo_data_refuses_a_world_whose_presence_differs(sample_world, tmp_path, tampered):
    """The feed of a world whose ``presence.parquet`` the simulation does not give is refused,
    and nothing is written. (The world is cut to its first bucket to keep the test short;
    untampered, that world's feed is written.)"""
    world = linked_world(sample_world, tmp_path / "world", "cells.parquet", "truth.parquet")
    manifest = json.loads((sample_world / "manifest.json").read_text())
    manifest["buckets"]["times"] = manifest["buckets"]["times"][:1]
    (world / "manifest.json").write_text(json.dumps(manifest))
    table = pq.read_table(sample_world / "presence.parquet")
    presence = table.to_pandas()
    presence = presence[presence["time"] == pd.Timestamp(manifest["buckets"]["times"][0])]
    if tampered:
        presence.loc[presence["devices"].idxmax(), "devices"] += 1
    pq.write_table(pa.Table.from_pandas(presence, table.schema, preserve_index=False),
                   world / "presence.parquet")  # fmt: skip
    result = demo_data(world, "--events-only", "--events-share", "0.001")
    if not tampered:
        assert result.exit_code == 0, result.output
        assert Feed.open(world / "events").info["buckets"]["times"] == manifest["buckets"]["times"]
        return
    assert result.exit_code == 1
    assert "does not give its presence.parquet" in said(result)
    assert sorted(p.name for p in world.iterdir()) == [
        "cells.parquet", "manifest.json", "presence.parquet", "truth.parquet"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--events-only", "--seed", "1"], "holds the sample world of seed 0, not"),
        (["--events-only", "--scale", "national"], "not the national world of seed 0"),
        (["--events-share", "0.5"], "add --events or --events-only"),
        (["--events-only", "--events-share", "0"], "0.0 is not in (0, 1]"),
    ],
)
def test_demo_data_feed_options_are_checked_before_any_work(sample_world, tmp_path, args, message):
    world = linked_world(sample_world, tmp_path / "world", *FEED_INPUTS)
    result = demo_data(world, *args)
    assert result.exit_code == 2
    assert message in said(result)
    assert sorted(p.name for p in world.iterdir()) == sorted(FEED_INPUTS)


def test_demo_data_events_only_needs_a_world(tmp_path):
    result = demo_data(tmp_path, "--events-only")
    assert result.exit_code == 2
    assert "holds no world (no manifest.json)" in said(result)
    assert not any(tmp_path.iterdir())


# -- the command, the engine, a real cluster ---------------------------------------------------


def build(*args: str) -> object:
    return CliRunner().invoke(app, ["presence", "build", *args])


def test_bad_window_is_refused_before_any_work(sample_feed, sample_world, tmp_path):
    result = build(
        "--events", str(sample_feed[0].path), "--cells", str(sample_world / "cells.parquet"),
        "--out", str(tmp_path / "p.parquet"), "--window", "-2h",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "must be positive" in result.output
    assert not (tmp_path / "p.parquet").exists()


def test_engine_opens_a_world_whose_presence_came_from_the_feed(
    sample_feed, sample_world, tmp_path
):
    """``geoalert presence build`` on a local cluster writes exactly the world's
    ``presence.parquet`` schema; the engine estimates from it what it estimates from the
    world's own counts. (The feed holds 2% of the devices, so k is 1 here: an operator's
    counts are 50 times larger.)"""
    import geoalert

    names = ("areas", "cells", "addresses", "contacts", "groups")
    world = linked_world(sample_world, tmp_path / "world", *(f"{n}.parquet" for n in names))
    shutil.copy(sample_world / "manifest.json", world)
    result = build(
        "--events", str(sample_feed[0].path), "--cells", str(world / "cells.parquet"),
        "--out", str(world / "presence.parquet"), "--workers", "1", "--k", "1",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pq.read_schema(world / "presence.parquet").equals(
        pq.read_schema(sample_world / "presence.parquet")
    )
    ours = geoalert.Engine.open(world, include=["population"])
    theirs = geoalert.Engine.open(sample_world, include=["population"])
    estimates = {}
    for at in ("2024-03-12T03:30:00+01:00", "2024-03-12T14:30:00+01:00"):
        mine, world_own = (
            e.resolve({"area": "04000"}, include=["population"], at=at).to_dict()["population"]
            for e in (ours, theirs)
        )
        assert mine["estimate"] == pytest.approx(world_own["estimate"], rel=0.1)
        estimates[at[11:13]] = mine["estimate"]
    assert estimates["14"] > estimates["03"]


@pytest.fixture
def scheduler(tmp_path):
    """Address of a dask.distributed scheduler on loopback with two worker processes, all
    started here and stopped afterwards."""
    from distributed import Client

    file = tmp_path / "scheduler.json"
    log = (tmp_path / "dask.log").open("w")
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
             "--scheduler-file", str(file), *common],
            stdout=log, stderr=log,
        )
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "distributed.cli.dask_worker", address,
                     "--nthreads", "1", "--no-nanny", *common],
                    stdout=log, stderr=log, env=os.environ | {"PYTHONWARNINGS": "ignore"},
                )
            )  # fmt: skip
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
        with Client(address, timeout="10s") as client:
            client.shutdown()  # the scheduler closes its workers, then itself
    finally:
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_presence_build_on_an_existing_cluster(
    scheduler, sample_feed, sample_world, cells, tmp_path
):
    """The same command with ``--scheduler``: the shards are counted by the cluster's worker
    processes, and the result is the pandas path's."""
    from distributed import Client

    feed, _ = sample_feed
    out = tmp_path / "presence.parquet"
    result = build(
        "--events", str(feed.path), "--cells", str(sample_world / "cells.parquet"),
        "--out", str(out), "--scheduler", scheduler, "--window", "90min",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    win = windows(feed, "90min")
    expected, _ = presence_table(
        present_devices_pandas(feed.path, cells["cell_id"].to_numpy(object), win), cells, win, 15
    )
    got = pq.read_table(out).to_pandas()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    with Client(scheduler, timeout="30s") as client:
        ran = client.run(lambda dask_worker: len(dask_worker.state.log) > 0)
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.task_prefixes)
        )
    assert len(ran) == 2 and all(ran.values())
    assert any(p.startswith("present-devices") for p in prefixes)
