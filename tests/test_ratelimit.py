"""Per-key rate limits: token buckets in memory and shared by processes through SQLite, and
``geoalert serve --workers N`` giving its workers one file to share."""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from api.ratelimit import SharedTokenBuckets, TokenBuckets, rate_limits
from geoalert.settings import Settings, get_settings

RATE, BURST, SECONDS = 200.0, 20, 0.6


@pytest.fixture(params=["memory", "shared"])
def make_buckets(request, tmp_path):
    """Token buckets of either kind, from (rate_per_s, burst, clock)."""
    if request.param == "memory":
        return TokenBuckets
    return lambda *args, **kwargs: SharedTokenBuckets(tmp_path / "rl.sqlite", *args, **kwargs)


def test_token_buckets(make_buckets):
    now = [0.0]
    buckets = make_buckets(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0  # one bucket per key
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    now[0] = 100.0
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # never above burst
    assert buckets.take("a") > 0


def test_shared_buckets_outlive_a_process(tmp_path):
    """A process that opens the file later sees the tokens the first one took."""
    now = [0.0]
    first = SharedTokenBuckets(tmp_path / "rl.sqlite", 2.0, 3, clock=lambda: now[0])
    assert [first.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    second = SharedTokenBuckets(tmp_path / "rl.sqlite", 2.0, 3, clock=lambda: now[0])
    assert second.take("a") == pytest.approx(0.5)
    assert second.take("b") == 0.0


def _take_for(path: Path, start, out) -> None:
    """Take tokens of key "k" for SECONDS as fast as possible; report the clock before the
    first take and after each granted one."""
    buckets = SharedTokenBuckets(path, RATE, BURST)
    start.wait()
    first = time.monotonic()
    granted = []
    while time.monotonic() < first + SECONDS:
        if buckets.take("k") == 0.0:
            granted.append(time.monotonic())
    out.put((first, granted))


def test_processes_sharing_a_key_never_exceed_its_rate(tmp_path):
    """Two processes taking tokens of one key as fast as they can get no more than
    ``burst + rate * elapsed`` of them in all, at every moment (each alone would)."""
    context = multiprocessing.get_context("spawn")  # as uvicorn starts its workers
    start, out = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=_take_for, args=(tmp_path / "rl.sqlite", start, out))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    try:
        reports = [out.get(timeout=60) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=10)
    assert all(process.exitcode == 0 for process in processes)
    assert all(len(granted) > 0 for _, granted in reports)
    began = min(first for first, _ in reports)
    granted = np.sort(np.concatenate([granted for _, granted in reports]))
    assert len(granted) > BURST
    allowed = BURST + RATE * (granted - began)
    assert (np.arange(1, len(granted) + 1) <= allowed + 1e-6).all()


def test_rate_limits_follow_the_settings(tmp_path):
    assert isinstance(rate_limits(Settings()), TokenBuckets)
    shared = rate_limits(Settings(api_rate_limit_file=tmp_path / "rl.sqlite"))
    assert isinstance(shared, SharedTokenBuckets)
    assert (tmp_path / "rl.sqlite").is_file()


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_gives_its_workers_one_rate_limit_file(tmp_path, monkeypatch, workers):
    """With several workers the command names a file in a directory of its own to them, and
    removes the directory when the server stops."""
    from geoalert.commands import serve

    seen = {}

    def run(*args):
        seen["file"] = get_settings().api_rate_limit_file
        seen["folder_exists"] = seen["file"] is not None and seen["file"].parent.is_dir()

    for name in ("GEOALERT_DATA_DIR", "GEOALERT_API_RATE_LIMIT_FILE"):
        monkeypatch.setenv(name, "")  # restored afterwards
        monkeypatch.delenv(name)
    monkeypatch.setattr(serve, "_run", run)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            serve.app, ["serve", "--data", str(tmp_path), "--workers", str(workers)]
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    if workers == 1:
        assert seen["file"] is None
        return
    assert seen["folder_exists"] and seen["file"].name == "rate-limits.sqlite"
    assert not seen["file"].parent.exists()
    assert "GEOALERT_API_RATE_LIMIT_FILE" not in os.environ


def test_an_unusable_rate_limit_file_is_named(tmp_path):
    path = tmp_path / "no such folder" / "rl.sqlite"
    with pytest.raises(RuntimeError, match=re.escape(f"cannot use {path} as the rate limit file")):
        SharedTokenBuckets(path, RATE, BURST)
