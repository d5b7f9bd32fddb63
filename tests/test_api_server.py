"""The real server (``geoalert serve``, uvicorn) on loopback: oversized bodies are refused
at once, before they are read, whether their size is declared or not."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from api_helpers import make_keys, serving_copy

from geoalert.testing.ports import free_port

LIMIT = 100_000


@pytest.fixture(scope="module")
def server(sample_world: Path, tmp_path_factory: pytest.TempPathFactory):
    world = serving_copy(sample_world, tmp_path_factory.mktemp("server") / "world")
    key = make_keys(world)["federal"]
    port = free_port()
    env = {**os.environ, "GEOALERT_API_MAX_BODY_BYTES": str(LIMIT)}
    cli = [sys.executable, "-c", "from geoalert.cli import app; app()"]
    command = [*cli, "serve", "--data", str(world)]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            pytest.fail("the server stopped or did not become ready in 120 s")
        yield port, key
    finally:
        process.terminate()
        process.wait(timeout=30)


def _request_head(port: int, key: str, extra: str) -> bytes:
    return (
        f"POST /v1/resolve HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def _status_line(sock: socket.socket) -> bytes:
    return sock.recv(65536).split(b"\r\n", 1)[0]


def test_declared_oversized_body_is_refused_within_a_second(server):
    port, key = server
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(_request_head(port, key, "Content-Length: 1000000000\r\n"))
        sock.sendall(b'{"zone": {"type": "Polygon", "coordinates": [[' + b"[4.3, 50.8], " * 100)
        status = _status_line(sock)
        assert time.monotonic() - started < 1.0
    assert status.startswith(b"HTTP/1.1 413"), status


def test_streamed_oversized_body_is_refused_as_it_passes_the_limit(server):
    port, key = server
    chunk = b"[4.3, 50.8], " * 1_000
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_request_head(port, key, "Transfer-Encoding: chunked\r\n"))
        sent, passed_limit = 0, None
        started = time.monotonic()
        while sent < 1_000 * LIMIT and time.monotonic() - started < 5:  # bounded
            if select.select([sock], [], [], 0)[0]:
                break  # answered
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if passed_limit is None and sent > LIMIT:
                passed_limit = time.monotonic()
        status = _status_line(sock)
        answered = time.monotonic()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert passed_limit is not None and answered - passed_limit < 1.0


def test_served_api_answers(server):
    port, key = server
    response = httpx.post(
        f"http://127.0.0.1:{port}/v1/resolve",
        json={"zone": {"circle": {"lon": 4.36, "lat": 50.886, "radius_m": 150}}},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200 and response.json()["cells"]
