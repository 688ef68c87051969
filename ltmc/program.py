"""The ``ltmc`` program (and ``python -m ltmc``): how it starts, and how signals stop it.

SIGINT (Ctrl-C) and SIGTERM end ltmc within a moment, with one line on stderr and exit
code 128 + the signal's number (130, 143). While the program starts there is nothing
to clean up, so it simply leaves. Once a command runs, the signal becomes an exception
in the main thread, so that every ``with`` and ``finally`` on the way out runs: the
workers are stopped, temporary files and staging folders removed, and the previous
output is left as it was. A second signal meanwhile is ignored, so that this cleanup
is not itself cut short.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from ltmc.errors import ExitCode

STOPS = (signal.SIGINT, signal.SIGTERM)
MESSAGES = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}
EXIT_CODES = {signal.SIGINT: ExitCode.INTERRUPTED, signal.SIGTERM: ExitCode.TERMINATED}

received: int | None = None  # the signal that stopped the running command


def _leave(signum: int, frame) -> None:
    os.write(2, f"{MESSAGES[signum]}\n".encode())
    os._exit(EXIT_CODES[signum])


def _stop(signum: int, frame) -> None:
    global received
    received = signum
    for other in STOPS:
        signal.signal(other, signal.SIG_IGN)
    raise KeyboardInterrupt  # unwinds the command: its with-blocks and finally clauses run


@contextmanager
def stopped_by_exception() -> Iterator[None]:
    """While a command runs: a signal raises KeyboardInterrupt in the main thread and is
    remembered in ``received``."""
    global received
    received = None
    previous = {s: signal.signal(s, _stop) for s in STOPS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def leave_on_signals() -> None:
    """Until a command runs, a signal ends the process at once, with its one line."""
    for s in STOPS:
        signal.signal(s, _leave)


def main() -> None:
    """The ``ltmc`` program: leave at once on a signal while starting, then run the CLI."""
    leave_on_signals()
    from ltmc.cli import main as run

    run()
