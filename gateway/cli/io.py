"""What every `pasarela` command shares at its edges: reading a file or `-` (stdin), printing JSON,
and leaving quietly when the reader of its output goes away (`pasarela ... | head`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

STDIN = "-"
DEFAULT_URL = "http://127.0.0.1:8000"  # where `pasarela serve` listens by default
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE (13), what a shell reports for a tool cut off by `head`
_encoder = msgspec.json.Encoder()


def read_input(name: str) -> bytes:
    """The bytes of file `name`, or of standard input when `name` is `-` (the Unix convention)."""
    return sys.stdin.buffer.read() if name == STDIN else Path(name).read_bytes()


def print_json(value: Any) -> None:
    """Indented JSON on stdout; Decimals and Structs encoded by msgspec (amounts stay strings)."""
    sys.stdout.write(msgspec.json.format(_encoder.encode(value), indent=2).decode() + "\n")
    sys.stdout.flush()  # a closed pipe surfaces here, inside quiet_broken_pipe, not at exit


def quiet_broken_pipe(command: Callable[[], int]) -> int:
    """Run `command`; when stdout's reader has gone, exit as Unix tools do, silently.

    stdout is pointed at /dev/null so the interpreter's final flush cannot raise again (the
    recipe of the Python `signal` documentation). SIGPIPE itself stays ignored: `serve` writes to
    sockets, where the default action would kill the process."""
    try:
        return command()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
