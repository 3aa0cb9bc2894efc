"""Serving and loading for the HTTP benches: the server on one core, the load generator on the other.

With `taskset` and at least two cores (and `CARNET_BENCH_PIN` not "0"), a one-process server is
pinned to the last core and the generator (`bench.loadgen`, its own process) to core 0, so the
server's figure is what one core does, and the generator's CPU use is printed beside it. With
`CARNET_BENCH_PROFILE=DIR`, py-spy samples the server during each load and writes
`DIR/<label>.txt` (collapsed stacks) and prints the heaviest frames.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import percentiles

CORES = os.cpu_count() or 1
PIN = bool(shutil.which("taskset")) and CORES >= 2 and os.environ.get("CARNET_BENCH_PIN") != "0"
SERVER_CORE = CORES - 1
GENERATOR_CORE = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pinned(command: list[str], core: int, pin: bool) -> list[str]:
    return ["taskset", "-c", str(core), *command] if pin and PIN else command


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn's workers), from /proc."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return total
    return total + sum(cpu_seconds(int(child)) for child in children)


@contextmanager
def serve(
    command: list[str], env: dict[str, str], port: int, *, ready: str = "/readyz", pin: bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process (pinned to the server core when `pin`) and stop it afterwards."""
    process = subprocess.Popen(
        _pinned(command, SERVER_CORE, pin), env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(300):
            try:
                httpx.get(f"http://127.0.0.1:{port}{ready}", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"the server did not start: {' '.join(command)}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def carnet_command(port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "carnet.cli", "serve", "--port", str(port), "--no-jobs",
        "--workers", str(workers),
    ]  # fmt: skip


@dataclass(frozen=True)
class Load:
    """What one load run measured."""

    count: int
    rate: float
    p50_ms: float
    p99_ms: float
    failures: dict[str, int]
    generator_cpu_share: float  # of one core, during the run
    server_cpu_ms: float  # per request

    def line(self, label: str, unit: str = "requests/s") -> str:
        failed = sum(self.failures.values())
        return (
            f"{label}: {self.rate:8.1f} {unit}  p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms"
            f"  server CPU {self.server_cpu_ms:.2f} ms/request  generator "
            f"{self.generator_cpu_share * 100:.0f} % of a core"
            + (f"  FAILURES {self.failures}" if failed else "")
        )


def load(
    port: int, clients: int, requests: list[str], *, server_pid: int, label: str,
    ok: tuple[str, ...] = ("200",),
) -> Load:  # fmt: skip
    """Send `requests` through `clients` keep-alive connections from a pinned generator process."""
    spec = {"host": "127.0.0.1", "port": port, "clients": clients, "requests": requests}
    profile_dir = os.environ.get("CARNET_BENCH_PROFILE")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    spy = None
    spy_bin = _venv_py_spy() or shutil.which("py-spy")
    if profile_dir and spy_bin:
        Path(profile_dir).mkdir(parents=True, exist_ok=True)
        spy = subprocess.Popen(
            [spy_bin, "record", "--pid", str(server_pid), "--format", "raw",
             "--rate", "250", "--subprocesses", "--gil", "-o", str(Path(profile_dir) / f"{label}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.0)
    cpu_before = cpu_seconds(server_pid)
    try:
        result = subprocess.run(
            _pinned([sys.executable, "-m", "bench.loadgen", handle.name], GENERATOR_CORE, True),
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
    server_cpu = cpu_seconds(server_pid) - cpu_before
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        _print_profile(Path(profile_dir or ".") / f"{label}.txt")
    measured = json.loads(result.stdout)
    latencies: list[float] = measured["latencies"]
    p50, p99 = percentiles(latencies)
    failures = {code: n for code, n in measured["statuses"].items() if code not in ok}
    count = len(latencies)
    return Load(
        count=count,
        rate=count / measured["wall"],
        p50_ms=p50,
        p99_ms=p99,
        failures=failures,
        generator_cpu_share=measured["cpu"] / measured["wall"],
        server_cpu_ms=server_cpu / count * 1000 if count else 0.0,
    )


def _venv_py_spy() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else None


def _print_profile(path: Path, top: int = 12) -> None:
    """The frames where the server spent its samples (self time), heaviest first."""
    if not path.exists():
        print(f"  (no profile written to {path})")
        return
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        frames = stack.split(";")
        own[_short(frames[-1])] += int(count)
        for frame in {_short(f) for f in frames if "carnet/" in f}:
            inclusive[frame] += int(count)
    if not total:
        return
    print(f"  profile: {total} samples -> {path}; self time, heaviest frames:")
    for frame, count in own.most_common(top):
        print(f"    {count / total * 100:5.1f} %  {frame}")
    print("  Carnet's own functions, inclusive time:")
    for frame, count in inclusive.most_common(top):
        print(f"    {count / total * 100:5.1f} %  {frame}")


def _short(frame: str) -> str:
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "src/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"
