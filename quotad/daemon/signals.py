"""Signals as messages: the handlers only enqueue, the main loop acts.

Why: a Python signal handler runs between two bytecodes of the main thread, wherever it is; reloading the
configuration or shutting the scheduler down from there could interleave with anything. Enqueueing on a
``SimpleQueue`` (documented as safe to call from signal handlers) and acting in the main loop keeps every
reaction ordinary code. SIGTERM and SIGINT ask to stop; SIGHUP asks to reload.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from queue import SimpleQueue
from types import FrameType

__all__ = ["Request", "signal_requests"]


class Request(Enum):
    STOP = "stop"
    RELOAD = "reload"


_MEANING = {signal.SIGTERM: Request.STOP, signal.SIGINT: Request.STOP, signal.SIGHUP: Request.RELOAD}


@contextmanager
def signal_requests() -> Iterator[SimpleQueue[Request]]:
    """Install the handlers (main thread only) for the block; the previous ones come back after it."""
    requests: SimpleQueue[Request] = SimpleQueue()

    def handle(signum: int, _frame: FrameType | None) -> None:
        requests.put(_MEANING[signal.Signals(signum)])

    previous = {sig: signal.signal(sig, handle) for sig in _MEANING}
    try:
        yield requests
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
