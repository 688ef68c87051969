"""One domain exception; the CLI turns it into a one-line message and an exit code."""

from __future__ import annotations


class ExitCode:
    OK = 0
    FAILURE = 1  # some inputs failed, or a check did not pass
    USAGE = 2  # the user asked for something impossible (bad path, bad option)
    DATA = 3  # a shard, manifest or codebook is corrupt, foreign or too new
    IO = 4  # the output could not be written
    INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + the signal's number, as shells report it
    TERMINATED = 143  # SIGTERM


class LtmcError(Exception):
    """A failure the user can act on. ``str(err)`` is the whole message."""

    def __init__(self, message: str, exit_code: int = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self):
        # Raised in a worker process, it comes back pickled: keep the exit code.
        return LtmcError, (str(self), self.exit_code)
