"""Run pytest with the system calendar moved ahead (default 400 days), so a date bomb fails today.

`make test` runs a bounded part of the suite this way after the normal run. The clock is moved for
the whole process tree (gateway and simulator subprocesses included) by libfaketime, which the
`libfaketime` package builds and ships; monotonic time is left alone, so timeouts, backoff and
leases behave as usual. Usage: `python tests/shifted_clock.py [--days N] [pytest args...]`."""

from __future__ import annotations

import os
import sys

import libfaketime

DEFAULT_DAYS = 400


def main(argv: list[str]) -> None:
    days = DEFAULT_DAYS
    if argv[:1] == ["--days"]:
        days, argv = int(argv[1]), argv[2:]
    _, env = libfaketime.get_reload_information()
    env = {**os.environ, **env, "FAKETIME": f"+{days}d", "PASARELA_SHIFTED_CLOCK_DAYS": str(days)}
    print(f"shifted clock: +{days} days", flush=True)
    os.execve(sys.executable, [sys.executable, "-m", "pytest", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
