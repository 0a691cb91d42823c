"""The product's one reading of the calendar: now and today in a time zone.

Date rules (an issue date not in the future, a provider that stamps the day it receives a
document, the default issue date, a simulator's accepted window) all read the clock here, so a test
sets the day with `set_to(...)` instead of passing only on the day it was written. Durations
(leases, backoff, breakers) use the gateway runtime's own clock and are not affected."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_source: Callable[[], float] = time.time


def now(tz: dt.tzinfo = dt.UTC) -> dt.datetime:
    """The current moment in `tz` (aware)."""
    return dt.datetime.fromtimestamp(_source(), tz)


def today(tz: dt.tzinfo) -> dt.date:
    """Today's date in `tz`: the authorities' calendar day, not the host's."""
    return now(tz).date()


@contextmanager
def set_to(moment: dt.datetime, *, tick: bool = True) -> Iterator[None]:
    """Move the calendar to an aware `moment` (ticking on from there unless `tick=False`) until exit.

    For tests that fix a date (golden files, a provider's "today" rule) and for reproducible tools."""
    global _source
    if moment.tzinfo is None:
        raise ValueError("set_to() needs an aware datetime")
    previous, offset = _source, moment.timestamp() - time.time()
    _source = (lambda: time.time() + offset) if tick else (lambda: moment.timestamp())
    try:
        yield
    finally:
        _source = previous
