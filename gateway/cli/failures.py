"""Why `pasarela serve` cannot start, as one line that says what to fix, and its exit code.

A traceback (or an ExceptionGroup of eighty lines folded into one JSON line) tells the operator
nothing they can act on; these checks run before the server listens, so each known cause gets its
sentence and a documented exit code (docs/deploy.md, "Logs"). Unknown errors still raise: hiding
them would be worse than a traceback.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping
from typing import Final

from gateway.store.engine import shown_url

EXIT_CONFIG: Final = 2  # the tenants file, its environment, or a flag is wrong
EXIT_STORE: Final = 3  # the database cannot be reached or used
EXIT_PORT: Final = 4  # the address cannot be listened on

# PostgreSQL SQLSTATE -> what to fix ({url}: the database URL without its password)
SQLSTATE: Final[Mapping[str, str]] = {
    "28000": "PostgreSQL has no such role ({url}): create it (CREATE ROLE ... LOGIN) or fix the user in "
    "[server] database / PASARELA_DATABASE_URL",
    "28P01": "PostgreSQL refused the password ({url}): fix it in [server] database / PASARELA_DATABASE_URL",
    "3D000": "the PostgreSQL database does not exist ({url}): create it (createdb -O <role> <name>) "
    "or fix the name in [server] database / PASARELA_DATABASE_URL",
    "42501": "the PostgreSQL role may not use this database ({url}): GRANT it CREATE and USAGE on the "
    "database and its schema (docs/deploy.md)",
    "53300": "PostgreSQL has no connection slot left ({url}): lower [server] pool_size or raise max_connections",
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (SQLAlchemy's `orig`, causes) and the members of a group."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__, getattr(current, "orig", None)) if e)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)


def store_problem(exc: BaseException, database: str) -> str | None:
    """What to fix when opening the store failed with `exc`, or None for an error we do not know."""
    url = shown_url(database)
    for error in _chain(exc):
        if (state := getattr(error, "sqlstate", None)) in SQLSTATE:
            return SQLSTATE[state].format(url=url)
        if isinstance(error, ConnectionRefusedError):
            return f"cannot connect to the database ({url}): connection refused; is PostgreSQL running there?"
        if isinstance(error, socket.gaierror):
            return f"cannot resolve the database host ({url}): fix [server] database / PASARELA_DATABASE_URL"
        if type(error).__name__ == "OperationalError" and "unable to open database file" in str(error):
            return f"cannot open the SQLite file ({url}): does its folder exist and is it writable?"
    return None


def port_problem(host: str, port: int) -> str | None:
    """Bind the address once, as uvicorn will, before anything else starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port} ({exc.strerror}): stop what uses it or pass --port"
    return None
