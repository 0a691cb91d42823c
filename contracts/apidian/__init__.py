"""APIDIAN's contract: request schema, documented examples and its own catalog tables.

`catalogs/*.csv` are APIDIAN's seed tables, unmodified (tab-separated, no header): the first
column is APIDIAN's internal id (what its API expects), another column the DIAN/DANE code.
"""

from __future__ import annotations

import csv
import io
from functools import cache

from contracts import read_bytes


@cache
def catalog(name: str) -> tuple[tuple[str, ...], ...]:
    """Rows of `catalogs/<name>.csv`, cells stripped."""
    text = read_bytes("apidian", "catalogs", f"{name}.csv").decode("utf-8")
    return tuple(tuple(cell.strip() for cell in row) for row in csv.reader(io.StringIO(text), delimiter="\t"))


def ids_by_code(name: str, column: int = -1) -> dict[str, int]:
    """APIDIAN id by the code in `column` (the last one unless told); the first row wins a tie."""
    table: dict[str, int] = {}
    for row in catalog(name):
        table.setdefault(row[column], int(row[0]))
    return table


def codes_by_id(name: str, column: int = -1) -> dict[int, str]:
    """The code in `column` by APIDIAN id: what a server reads back from an id it was sent."""
    return {int(row[0]): row[column] for row in catalog(name)}
