"""The daemon's and the agent's HTTP listeners under slow and half-open clients, and the agent's /healthz.

Before: one thread per connection and no read timeout (500 clients that connected and sent half a request made
507 threads). Now a fixed worker pool, a connection cap and a read timeout: the thread count stays where it
was, the stalled connections are cut off, and /healthz answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from quotad.collectors.nvml.fake import FakeNvml
from quotad.collectors.nvml.service import build_agent, serve
from quotad.daemon.service import Daemon
from quotad.httpserve import HttpLimits
from tests.test_daemon_service import PATIENCE_S, daemon_factory, get, make, quiet_registry
from tests.test_nvml_support import agent_config, fixture_scenario

__all__ = ["daemon_factory"]  # the fixture, imported to be used here

LIMITS = {"threads": 2, "connection_limit": 20, "read_timeout_s": 2, "cleanup_interval_s": 1}
SLOW_CLIENTS = 100


@contextmanager
def slow_clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send the start of a request and then nothing (the kernel queues those
    beyond the server's cap in its backlog, so every connect succeeds)."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_S)
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: slow\r\n")  # no blank line: the request never completes
            opened.append(s)
        yield opened
    finally:
        for s in opened:
            s.close()


def cut_off(s: socket.socket) -> bool:
    """True once the server closed the stalled connection (reads end-of-file, or the reset)."""
    s.settimeout(PATIENCE_S)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


def test_slow_clients_do_not_multiply_daemon_threads_and_healthz_still_answers(
    daemon_factory: Callable[..., Daemon], db_url: str
) -> None:
    daemon = daemon_factory(quiet_registry(), settings=make(db_url, http=LIMITS))
    _, port = daemon.start()
    assert get(port, "/healthz")[0] == 200
    threads_serving = threading.active_count()
    with slow_clients(port, SLOW_CLIENTS) as stalled:
        assert threading.active_count() <= threads_serving  # no thread per connection
        # Only connection_limit of them are open at the server at a time; each is cut off after the read
        # timeout and the next ones in the backlog are taken, until /healthz (queued behind them) is served.
        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert threading.active_count() <= threads_serving
        assert cut_off(stalled[0]) and cut_off(stalled[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_agent_has_the_same_limits_and_a_healthz_naming_unattributed_gpus(engine: Engine, tmp_path: Path) -> None:
    # No Slurm view (job discovery off): the scenario's process on GPU 0 belongs to no job quotad knows.
    config = agent_config(tmp_path, interval_s=0.2, flush_interval_s=1, job_discovery=(), http=HttpLimits(**LIMITS))
    parts = build_agent(config, cluster="c1", node="gpu001", engine=engine,
                        api=FakeNvml(fixture_scenario("busy_then_idle.json"), clock=time.time), runner=None)
    stop = threading.Event()
    port = _free_port()
    thread = threading.Thread(target=serve, args=(parts, config), kwargs={"stop": stop, "listen": ("127.0.0.1", port)})
    thread.start()
    try:
        deadline = time.monotonic() + PATIENCE_S
        while parts.counters.get("samples") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        status, body = get(port, "/healthz")
        health = json.loads(body)
        assert status == 503 and health["status"] == "degraded" and health["node"] == "gpu001"
        assert health["problems"] == [
            {"check": "agent_unattributed", "subject": "gpu001", "reason": "process_of_no_job", "count": 1}
        ]
        _, text = get(port, "/metrics")
        assert b"quotad_agent_unattributed_gpus 1.0" in text
        threads_serving = threading.active_count()
        with slow_clients(port, 60) as stalled:
            assert threading.active_count() <= threads_serving
            assert get(port, "/healthz")[0] == 503  # answered, behind the stalled ones
            assert cut_off(stalled[0])
    finally:
        stop.set()
        thread.join(timeout=PATIENCE_S)
    assert not thread.is_alive()
