"""A throwaway PostgreSQL + PostGIS server for tests and benchmarks.

The server comes from Debian's packages (``postgresql`` and ``postgresql-postgis``): a fresh
cluster is created with ``initdb`` in a working directory, started with ``pg_ctl`` on a free
loopback port, given a database ``geoalert`` with the ``postgis`` extension, and removed at the
end. PostgreSQL refuses to run as root, so when the caller is root the server runs as the
``postgres`` system user (created when missing).

Run ``python -m geoalert.testing.postgis`` to start one by hand: it prints the URL and serves
until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import sqlalchemy as sa

from geoalert.testing.ports import free_port

SERVER_USER = "postgres"
"""System user the server runs as when the caller is root."""

DATABASE = "geoalert"

# Throwaway data: durability is traded for speed (bulk loads of national worlds included).
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "512MB",
    "max_connections": "100",
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "logging_collector": "off",
}

INSTALL_HINT = (
    "install the Debian packages 'postgresql' and 'postgresql-postgis' (scripts/test does)"
)


class PostgisUnavailable(RuntimeError):
    """PostgreSQL or its PostGIS extension is not installed."""


def find_bindir() -> Path:
    """Directory of the newest PostgreSQL server binaries that have PostGIS installed.

    Looks at Debian's layout (``/usr/lib/postgresql/<version>/bin``) first, then at
    ``pg_config --bindir`` from ``PATH``.

    Raises
    ------
    PostgisUnavailable
        When no PostgreSQL server with the ``postgis`` extension is found.
    """
    debian = []
    for pg_ctl in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"):
        version = Path(pg_ctl).parents[1].name
        if Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
            debian.append((float(version), Path(pg_ctl).parent))
    if debian:
        return max(debian)[1]
    pg_config = shutil.which("pg_config")
    if pg_config:
        bindir = Path(
            subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        sharedir = subprocess.run(
            [pg_config, "--sharedir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (bindir / "pg_ctl").exists() and Path(sharedir, "extension", "postgis.control").exists():
            return bindir
    raise PostgisUnavailable(f"no PostgreSQL server with PostGIS found: {INSTALL_HINT}")


def _server_user() -> pwd.struct_passwd:
    """The account the server runs as: the caller, or ``postgres`` when the caller is root."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVER_USER,
            ],
            check=True,
        )
        return pwd.getpwnam(SERVER_USER)


def _reachable_by(user: pwd.struct_passwd, path: Path) -> bool:
    """Whether ``user`` may enter every directory on the way to ``path``."""
    if user.pw_uid == os.geteuid():
        return True
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == user.pw_uid:
            mode_ok = st.st_mode & 0o100
        elif st.st_gid == user.pw_gid:
            mode_ok = st.st_mode & 0o010
        else:
            mode_ok = st.st_mode & 0o001
        if not mode_ok:
            return False
    return True


def _wait_ready(dsn: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with psycopg.connect(dsn, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def running_postgis(workdir: str | os.PathLike[str]) -> Iterator[str]:
    """Start a throwaway PostgreSQL + PostGIS server and yield its SQLAlchemy URL.

    Parameters
    ----------
    workdir : path
        Directory that holds the cluster. When the server user cannot reach it (for example a
        private pytest directory while running as root), the cluster goes to a fresh directory
        under the system temporary directory instead. Everything is removed at exit.

    Yields
    ------
    str
        ``postgresql+psycopg://postgres@127.0.0.1:<port>/geoalert``, a superuser connection to
        a database with the ``postgis`` extension created.

    Raises
    ------
    PostgisUnavailable
        When PostgreSQL or PostGIS is not installed.
    """
    bindir = find_bindir()
    user = _server_user()
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    base = workdir if _reachable_by(user, workdir) else None
    root = Path(tempfile.mkdtemp(prefix="geoalert-pg-", dir=base))
    os.chown(root, user.pw_uid, user.pw_gid)
    datadir, logfile = root / "data", root / "server.log"

    def as_server(*args: str | os.PathLike[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(a) for a in args],
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[] if os.geteuid() == 0 else None,
            cwd=root,
            capture_output=True,
            text=True,
            **kwargs,
        )

    started = False
    try:
        init = as_server(
            bindir / "initdb",
            "-D",
            datadir,
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        with open(datadir / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = '{value}'\n" for key, value in SERVER_SETTINGS.items())
        for attempt in range(5):
            port = free_port()
            start = as_server(
                bindir / "pg_ctl",
                "-D",
                datadir,
                "-l",
                logfile,
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                "60",
                "start",
            )
            if start.returncode == 0:
                started = True
                break
            if attempt == 4:
                log = logfile.read_text() if logfile.exists() else ""
                raise RuntimeError(f"pg_ctl start failed: {start.stderr.strip()}\n{log[-2000:]}")
        _wait_ready(f"host=127.0.0.1 port={port} user=postgres dbname=postgres")
        yield create_database(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", DATABASE)
    finally:
        if started:
            as_server(bindir / "pg_ctl", "-D", datadir, "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, name: str, template: str | None = None) -> str:
    """Create database ``name`` on the server of ``url`` (a copy of ``template`` when given,
    else with the ``postgis`` extension) and return its URL.

    A template must have no open connections while it is copied.
    """
    target = sa.make_url(url).set(database=name)
    admin = sa.make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        clause = f" TEMPLATE {template}" if template else ""
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    if not template:
        dsn = target.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION postgis")
    return target.render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop the database of ``url``, closing its connections."""
    name = sa.make_url(url).database
    admin = sa.make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Start a server, print its URL and serve until interrupted (Ctrl-C or SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="python -m geoalert.testing.postgis", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--dir", default=tempfile.gettempdir(), help="working directory for the cluster"
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    with running_postgis(args.dir) as url:
        print(url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
