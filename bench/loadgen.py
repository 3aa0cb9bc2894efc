"""A small HTTP/1.1 load generator, run as its own process so that it can be pinned to one core.

`python -m bench.loadgen SPEC.json` reads a spec (`host`, `port`, `clients`, `requests`: a list of
raw HTTP/1.1 requests, as latin-1 strings, that the clients take in turn) and prints one JSON line:
latencies (seconds), status counts, wall time and the generator's own CPU time. Each client is one
keep-alive connection on asyncio that sends a request and reads the whole answer before the next
one: a closed loop, as a professional's software or a patient's app behaves. It is deliberately
bare (no HTTP library) so that the generator's cost per request stays small beside the server's,
and that cost is printed, so a reader can see how much of the machine it took.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time


async def _client(
    host: str, port: int, requests: list[bytes], start: int, step: int,
    latencies: list[float], statuses: dict[str, int],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for index in range(start, len(requests), step):
            began = time.perf_counter()
            writer.write(requests[index])
            status_line = await reader.readline()
            length = 0
            chunked = False
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
            if chunked:
                while True:
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            code = status_line.split(b" ", 2)[1].decode() if status_line else "closed"
            statuses[code] = statuses.get(code, 0) + 1
    finally:
        writer.close()


async def _run(spec: dict[str, object]) -> dict[str, object]:
    host, port = str(spec["host"]), int(str(spec["port"]))
    clients = int(str(spec["clients"]))
    raw = spec["requests"]
    assert isinstance(raw, list)
    requests = [str(item).encode("latin-1") for item in raw]
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    await asyncio.gather(
        *(_client(host, port, requests, n, clients, latencies, statuses) for n in range(clients))
    )
    wall = time.perf_counter() - began
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"latencies": latencies, "statuses": statuses, "wall": wall, "cpu": cpu}


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> str:
    """One raw HTTP/1.1 request, as the latin-1 string a spec carries."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return (head + body).decode("latin-1")


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    print(json.dumps(asyncio.run(_run(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
