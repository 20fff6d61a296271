"""Fixtures of the live exchange's tests: small co-op folders, the API in-process, a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .helpers import PG_BIN, free_port


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL 15 server on 127.0.0.1 (initdb + pg_ctl as user nobody), stopped by its PID."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"{PG_BIN}/initdb not found: install Debian's postgresql package (.ci/run does)")
    base = Path(tempfile.mkdtemp(prefix="wattmesh-pg-"))
    data = base / "data"
    data.mkdir()
    user = "nobody" if os.geteuid() == 0 else None
    if user:
        shutil.chown(base, user)
        shutil.chown(data, user)
    prefix = ["runuser", "-u", user, "--"] if user else []
    port = free_port()
    subprocess.run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-U", "wattmesh", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, capture_output=True)  # fmt: skip
    log = base / "log.txt"
    if user:
        log.touch()
        shutil.chown(log, user)
    options = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=on"
    subprocess.run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        yield f"postgresql://wattmesh@127.0.0.1:{port}/postgres"
    finally:
        os.kill(pid, 15)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        shutil.rmtree(base, ignore_errors=True)


_databases = iter(range(10**6))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db_url(request, tmp_path):
    """The journal's URL: a fresh SQLite file, or a fresh database on the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    import psycopg

    server = request.getfixturevalue("postgres_url")
    name = f"j{os.getpid()}_{next(_databases)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"
