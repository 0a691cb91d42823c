"""Run pytest with the system calendar moved ahead (default 400 days), so a date bomb fails today.

`make test` runs a bounded part of the suite this way after the normal run. The clock is moved for
the whole process tree (gateway and simulator subprocesses included) by libfaketime, which the
`libfaketime` package builds and ships; monotonic time is left alone, so timeouts, backoff and
leases behave as usual. Usage: `python tests/shifted_clock.py [--days N] [pytest args...]`."""

from __future__ import annotations

import os
import re
import sys

import libfaketime

DEFAULT_DAYS = 400
UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}  # libfaketime's suffixes


def main(argv: list[str]) -> None:
    days = DEFAULT_DAYS
    if argv[:1] == ["--days"]:
        days, argv = int(argv[1]), argv[2:]
    if outer := os.environ.get("FAKETIME"):
        # Already under libfaketime (`faketime '+400 days' make test` sets FAKETIME=+<seconds>): a
        # second preload inside it breaks the clock calls (sleep fails with EINVAL), so the
        # caller's offset is moved by ours instead.
        ahead = re.fullmatch(r"\+(\d+)([smhdy]?)", outer.strip())
        if ahead is None:
            sys.exit(f"shifted clock: cannot add {days} days to FAKETIME={outer!r} (a relative offset is needed)")
        seconds = int(ahead[1]) * UNIT_S[ahead[2]] + days * 86400
        env = {**os.environ, "FAKETIME": f"+{seconds}", "PASARELA_SHIFTED_CLOCK_DAYS": str(seconds // 86400)}
        print(f"shifted clock: +{seconds // 86400} days (FAKETIME={outer} plus {days} days)", flush=True)
    else:
        _, env = libfaketime.get_reload_information()
        env = {**os.environ, **env, "FAKETIME": f"+{days}d", "PASARELA_SHIFTED_CLOCK_DAYS": str(days)}
        print(f"shifted clock: +{days} days", flush=True)
    os.execve(sys.executable, [sys.executable, "-m", "pytest", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
