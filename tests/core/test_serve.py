"""`carnet serve --workers N`: several server processes over the same database and blob store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from carnet.config import Settings
from carnet.db import Database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_worker_processes_answer(settings: Settings, database: Database) -> None:
    """`database` too: on PostgreSQL its teardown empties the tables the server wrote to."""
    port = _free_port()
    env = {**os.environ, "CARNET_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "-m", "carnet.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its workers too are stopped below, before the next test
    )
    try:
        ready = None
        for _ in range(150):
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert ready is not None and ready.status_code == 200
        metadata = httpx.get(f"http://127.0.0.1:{port}/fhir/metadata", timeout=5)
        assert metadata.json()["resourceType"] == "CapabilityStatement"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        _out, err = server.communicate(timeout=30)
        _wait_for_group_exit(server.pid)
    assert b"Traceback" not in err


def _wait_for_group_exit(group: int) -> None:
    """No worker may outlive the test: it would still write into the test's database."""
    for _ in range(100):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)
