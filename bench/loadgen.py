"""A small, cheap HTTP/1.1 load generator for benchmarks on this machine.

It runs on the same 2-core box as the server and the database, so it is written to cost as
little CPU per request as possible: a few processes (default 2), each running its share of the
clients as threads over plain blocking sockets, speaking raw HTTP/1.1 (keep-alive when the server
allows it, a fresh connection when the server answers ``Connection: close`` like gunicorn's sync
worker does). No client library, no TLS, no redirects, no cookies. Blocking sockets release the
GIL during every send/recv; measured here this costs ~50 us of client CPU per keep-alive request
and ~130 us per request with a new connection, about 2.5x less than asyncio streams did.

Exactly ``concurrency`` requests are in flight at any moment (one per client thread). Every
run is bounded in time (``warmup + duration``) and optionally in count (``max_requests``), and
only loopback targets are accepted.

Usage from another script::

    from bench.loadgen import run, percentile   # or: sys.path.insert(0, "bench"); import loadgen

    def body(client_id: int, seq: int) -> bytes:
        return json.dumps({"n": client_id * 1_000_000 + seq}).encode()

    res = run("http://127.0.0.1:8000/api/v1/tickets", {"Authorization": "Bearer x"}, body,
              concurrency=16, duration=60, warmup=5)
    print(res.throughput, res.p(50), res.p(99), res.status_counts)

``body_factory(client_id, seq)`` is called in the worker process (the factory is inherited
through fork, so closures are fine) for every request; ``client_id`` is 0..concurrency-1 and
``seq`` counts that client's requests from 0 across warmup and measurement, so the pair is
unique within one ``run`` call.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import multiprocessing as mp
import os
import resource
import signal
import socket
import struct
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

BodyFactory = Callable[[int, int], bytes]

LOOPBACK_NAMES = {"localhost"}


class ProtocolError(Exception):
    pass


@dataclass
class LoadResult:
    """What one ``run`` measured. Latencies are in milliseconds, measurement phase only."""

    concurrency: int
    duration_s: float
    warmup_s: float
    processes: int
    latencies_ms: array = field(default_factory=lambda: array("d"))
    status_counts: Counter = field(default_factory=Counter)  # measurement phase, by HTTP status
    warmup_status_counts: Counter = field(default_factory=Counter)
    transport_errors: int = 0  # connect failures, resets, timeouts, malformed responses
    warmup_transport_errors: int = 0
    error_samples: list[str] = field(default_factory=list)  # first few error descriptions/bodies
    retries: int = 0  # requests resent once after a stale keep-alive connection was closed
    connections_opened: int = 0
    client_cpu_s: float = 0.0  # user+sys CPU the load generator processes used (whole run)
    wall_s: float = 0.0  # measurement window actually covered

    @property
    def requests(self) -> int:
        return sum(self.status_counts.values())

    def ok(self, expect: tuple[int, ...] = (200, 201)) -> int:
        return sum(n for s, n in self.status_counts.items() if s in expect)

    def errors(self, expect: tuple[int, ...] = (200, 201)) -> int:
        return self.requests - self.ok(expect) + self.transport_errors

    def throughput(self, expect: tuple[int, ...] = (200, 201)) -> float:
        """Successful requests per second started within the measurement window."""
        return self.ok(expect) / self.duration_s if self.duration_s else 0.0

    def p(self, q: float) -> float | None:
        return percentile(self.latencies_ms, q)

    def total_ok(self, expect: tuple[int, ...] = (200, 201)) -> int:
        """Successful requests over warmup and measurement (what the server should have stored)."""
        return self.ok(expect) + sum(n for s, n in self.warmup_status_counts.items() if s in expect)


def percentile(values, q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an unsorted sequence; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return s[k]


def _check_loopback(host: str) -> None:
    if host in LOOPBACK_NAMES:
        return
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"loadgen only targets loopback addresses, got host {host!r}") from exc
    if not ip.is_loopback:
        raise ValueError(f"loadgen only targets loopback addresses, got {host!r}")


def _request_head(
    method: str, host: str, port: int, path: str, headers: Mapping[str, str]
) -> bytes:
    base = {
        "Host": f"{host}:{port}",
        "User-Agent": "aftercare-bench-loadgen/1",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "Connection": "keep-alive",
    }
    lowered = {k.lower() for k in headers}
    merged = {k: v for k, v in base.items() if k.lower() not in lowered}
    merged.update(headers)
    lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in merged.items()]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


class _Conn:
    """One blocking HTTP/1.1 connection with its own receive buffer."""

    __slots__ = ("buf", "host", "port", "sock", "timeout")

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def open(self) -> None:
        s = socket.create_connection((self.host, self.port), timeout=self.timeout)
        # Back to a truly blocking socket: Python's own timeouts poll() before every recv/send,
        # one more syscall per call. The kernel's SO_RCVTIMEO/SO_SNDTIMEO bound the waits
        # instead (an expired wait raises OSError EAGAIN, counted as a transport error).
        s.settimeout(None)
        tv = struct.pack("ll", int(self.timeout), int((self.timeout % 1) * 1_000_000))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.buf = b""

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None
        self.buf = b""

    def _fill(self) -> bool:
        assert self.sock is not None
        d = self.sock.recv(262144)
        if not d:
            return False
        self.buf += d
        return True

    def _readline(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2 :]
                return line
            if not self._fill():
                raise ProtocolError("connection closed inside chunked body")

    def _readexactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError("connection closed inside response body")
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def exchange(self, req: bytes) -> tuple[int, bool, bytes]:
        """Send one request, read one response: (status, server_wants_close, body)."""
        assert self.sock is not None
        self.sock.sendall(req)
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._fill():
                if not self.buf:
                    raise EOFError("connection closed before response")
                raise ProtocolError("connection closed inside response head")
            if len(self.buf) > 65536:
                raise ProtocolError("response head too large")
        head, self.buf = self.buf[:i], self.buf[i + 4 :]
        lines = head.split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1."):
            raise ProtocolError(f"bad status line {status_line[:80]!r}")
        status = int(status_line[9:12])
        close = status_line.startswith(b"HTTP/1.0")
        length = -1
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                v = value.strip().lower()
                if v == b"close":
                    close = True
                elif v == b"keep-alive":
                    close = False
        if status in (204, 304) or 100 <= status < 200:
            return status, close, b""
        if chunked:
            parts = []
            while True:
                size = int(self._readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._readline():  # trailers, then the blank line
                        pass
                    break
                parts.append(self._readexactly(size + 2)[:-2])
            return status, close, b"".join(parts)
        if length >= 0:
            return status, close, self._readexactly(length)
        # no length: the body runs to EOF
        while self._fill():
            pass
        body, self.buf = self.buf, b""
        return status, True, body


class _Stats:
    """Per-thread counters (no locking on the hot path; merged at the end)."""

    __slots__ = ("conns", "lat", "retries", "samples", "status", "terr", "warm_status", "warm_terr")

    def __init__(self) -> None:
        self.lat = array("d")
        self.status: Counter = Counter()
        self.warm_status: Counter = Counter()
        self.terr = 0
        self.warm_terr = 0
        self.samples: list[str] = []
        self.retries = 0
        self.conns = 0

    def sample(self, text: str) -> None:
        if len(self.samples) < 5:
            self.samples.append(text[:600])


def _client(
    cid: int,
    host: str,
    port: int,
    head: bytes,
    factory: BodyFactory,
    t_measure: float,
    t_end: float,
    max_n: int | None,
    timeout: float,
    expect: tuple[int, ...],
    st: _Stats,
    stop: threading.Event,
) -> None:
    conn = _Conn(host, port, timeout)
    perf = time.perf_counter
    wall = time.time
    seq = 0
    try:
        while not stop.is_set():
            started_wall = wall()
            if started_wall >= t_end or (max_n is not None and seq >= max_n):
                break
            body = factory(cid, seq)
            seq += 1
            req = head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            measuring = started_wall >= t_measure
            t0 = perf()
            try:
                for attempt in (0, 1):
                    reused = conn.sock is not None
                    if not reused:
                        conn.open()
                        st.conns += 1
                    try:
                        status, close, rbody = conn.exchange(req)
                    except (EOFError, ConnectionResetError, BrokenPipeError):
                        # the server closed an idle keep-alive connection under us:
                        # resend once on a fresh one, as any HTTP client would
                        conn.close()
                        if reused and attempt == 0:
                            st.retries += 1
                            continue
                        raise
                    break
            except (OSError, EOFError, ProtocolError, ValueError) as exc:
                conn.close()
                if measuring:
                    st.terr += 1
                else:
                    st.warm_terr += 1
                st.sample(f"transport error: {type(exc).__name__}: {exc}")
                time.sleep(0.05)  # do not spin on a dead server
                continue
            lat_ms = (perf() - t0) * 1000.0
            if close:
                conn.close()
            if measuring:
                st.lat.append(lat_ms)
                st.status[status] += 1
            else:
                st.warm_status[status] += 1
            if status not in expect:
                st.sample(f"HTTP {status}: {rbody[:500].decode('utf-8', 'replace')}")
    finally:
        conn.close()


def _worker(
    pipe,
    client_ids: list[int],
    host: str,
    port: int,
    head: bytes,
    factory: BodyFactory,
    t_start: float,
    t_measure: float,
    t_end: float,
    per_client_max: dict[int, int] | None,
    timeout: float,
    expect: tuple[int, ...],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and terminates us
    stop = threading.Event()
    stats = [_Stats() for _ in client_ids]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    delay = t_start - time.time()
    if delay > 0:
        time.sleep(delay)
    threads = [
        threading.Thread(
            target=_client,
            args=(
                cid,
                host,
                port,
                head,
                factory,
                t_measure,
                t_end,
                None if per_client_max is None else per_client_max[cid],
                timeout,
                expect,
                st,
                stop,
            ),
            daemon=True,
        )
        for cid, st in zip(client_ids, stats, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    lat = array("d")
    status: Counter = Counter()
    warm: Counter = Counter()
    samples: list[str] = []
    for st in stats:
        lat.extend(st.lat)
        status.update(st.status)
        warm.update(st.warm_status)
        samples.extend(st.samples)
    pipe.send(
        {
            "lat": lat,
            "status": dict(status),
            "warm_status": dict(warm),
            "terr": sum(st.terr for st in stats),
            "warm_terr": sum(st.warm_terr for st in stats),
            "samples": samples[:8],
            "retries": sum(st.retries for st in stats),
            "conns": sum(st.conns for st in stats),
            "cpu": cpu,
        }
    )
    pipe.close()


def run(
    url: str,
    headers: Mapping[str, str],
    body_factory: BodyFactory,
    concurrency: int = 16,
    duration: float = 60.0,
    *,
    warmup: float = 0.0,
    max_requests: int | None = None,
    processes: int | None = None,
    method: str = "POST",
    timeout: float = 30.0,
    expect: tuple[int, ...] = (200, 201),
    on_window: Callable[[float, float], None] | None = None,
) -> LoadResult:
    """Drive ``concurrency`` closed-loop clients against ``url`` and return what they saw.

    Time bound: ``warmup`` seconds (results kept apart) then ``duration`` seconds measured;
    no new request starts after that, in-flight ones finish (each bounded by ``timeout``).
    Count bound: ``max_requests`` in total (split evenly over the clients), if given.
    ``on_window(t_measure, t_end)`` (wall-clock times) is called once the clients are started,
    e.g. to sample CPU use over exactly the measured window.
    """
    u = urlsplit(url)
    if u.scheme != "http":
        raise ValueError("loadgen speaks plain http:// only")
    host = u.hostname or ""
    _check_loopback(host)
    port = u.port or 80
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if duration <= 0 and max_requests is None:
        raise ValueError("need a duration or a max_requests bound")
    nproc = processes or min(concurrency, max(1, min(2, os.cpu_count() or 1)))
    nproc = max(1, min(nproc, concurrency))
    head = _request_head(method, host, port, path, headers)

    per_client_max = None
    if max_requests is not None:
        base, extra = divmod(max_requests, concurrency)
        per_client_max = {c: base + (1 if c < extra else 0) for c in range(concurrency)}
    if duration <= 0:
        duration = 24 * 3600.0  # count-bounded only; each request still has its timeout

    groups = [list(range(i, concurrency, nproc)) for i in range(nproc)]
    ctx = mp.get_context("fork")
    t_start = time.time() + 0.3  # let every process get ready so all clients start together
    t_measure = t_start + warmup
    t_end = t_measure + duration
    procs = []
    pipes = []
    res = LoadResult(concurrency=concurrency, duration_s=duration, warmup_s=warmup, processes=nproc)
    try:
        for g in groups:
            parent_end, child_end = ctx.Pipe(duplex=False)
            p = ctx.Process(
                target=_worker,
                args=(
                    child_end,
                    g,
                    host,
                    port,
                    head,
                    body_factory,
                    t_start,
                    t_measure,
                    t_end,
                    per_client_max,
                    timeout,
                    expect,
                ),
                daemon=True,
            )
            p.start()
            child_end.close()
            procs.append(p)
            pipes.append(parent_end)
        if on_window is not None:
            on_window(t_measure, t_end)
        for p, pipe in zip(procs, pipes, strict=True):
            try:
                d = pipe.recv()
            except EOFError:
                p.join(5)
                raise RuntimeError(f"loadgen worker died (exit code {p.exitcode})") from None
            res.latencies_ms.extend(d["lat"])
            res.status_counts.update(d["status"])
            res.warmup_status_counts.update(d["warm_status"])
            res.transport_errors += d["terr"]
            res.warmup_transport_errors += d["warm_terr"]
            res.retries += d["retries"]
            res.connections_opened += d["conns"]
            res.client_cpu_s += d["cpu"]
            for s in d["samples"]:
                if len(res.error_samples) < 8:
                    res.error_samples.append(s)
            p.join(10)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
    res.wall_s = max(0.0, min(time.time(), t_end + timeout) - t_measure)
    if max_requests is not None and duration >= 24 * 3600.0:
        # count-bounded run: report the window it really took
        res.duration_s = res.wall_s
    return res


def _cli() -> None:  # a quick manual check: python bench/loadgen.py URL
    import argparse
    import json

    ap = argparse.ArgumentParser(description="POST a tiny JSON body in a closed loop")
    ap.add_argument("url")
    ap.add_argument("-c", "--concurrency", type=int, default=16)
    ap.add_argument("-d", "--duration", type=float, default=10)
    ap.add_argument("-H", "--header", action="append", default=[])
    ap.add_argument("-X", "--method", default="POST")
    ap.add_argument("-p", "--processes", type=int, default=None)
    a = ap.parse_args()
    hdrs = dict(h.split(":", 1) for h in a.header)
    hdrs = {k.strip(): v.strip() for k, v in hdrs.items()}

    def body(cid: int, seq: int) -> bytes:
        return json.dumps({"client": cid, "seq": seq}).encode()

    r = run(
        a.url,
        hdrs,
        body,
        a.concurrency,
        a.duration,
        method=a.method,
        processes=a.processes,
        expect=tuple(range(200, 300)),
    )
    print(
        json.dumps(
            {
                "requests": r.requests,
                "rps": round(r.requests / r.duration_s, 1),
                "p50_ms": r.p(50),
                "p99_ms": r.p(99),
                "status": dict(r.status_counts),
                "transport_errors": r.transport_errors,
                "connections": r.connections_opened,
                "client_cpu_s": round(r.client_cpu_s, 2),
                "samples": r.error_samples,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    _cli()
