"""Throwaway local services for integration tests: a PostgreSQL cluster and a Redis server,
each in a temporary folder on a free loopback port, stopped afterwards.

Each skips the test, saying why, when its programs are missing. As root (CI runs as root)
the PostgreSQL cluster runs as the ``postgres`` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.servers import free_port

__all__ = ["postgres_cluster", "redis_server"]

PG_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def _program(name: str) -> str | None:
    for folder in PG_DIRS:
        if (Path(folder) / name).is_file():
            return str(Path(folder) / name)
    return shutil.which(name)


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is missing: PostgreSQL refuses to run as root")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the cluster as")
    return [runuser, "-u", "postgres", "--", *cmd]


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A started throwaway PostgreSQL cluster; yields its ``postgresql://`` URL."""
    pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")
    initdb, pg_ctl = _program("initdb"), _program("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server programs (initdb, pg_ctl) are not installed")
    base = Path(tempfile.mkdtemp(prefix="smartroute-pg-"))  # pytest's folders are root-only
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres_user([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off"
    subprocess.run(
        _as_postgres_user(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """A started throwaway ``redis-server`` (no persistence); yields its ``redis://`` URL."""
    redis = pytest.importorskip("redis", reason="the redis client is not installed (gateway extra)")
    program = shutil.which("redis-server")
    if program is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    base = Path(tempfile.mkdtemp(prefix="smartroute-redis-"))
    process = subprocess.Popen(
        [program, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
         "no", "--dir", str(base)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)
        shutil.rmtree(base, ignore_errors=True)
