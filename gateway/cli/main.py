"""The `pasarela` command (ARCHITECTURE.md, Config and CLI): one subcommand per job."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any

from canonical.errors import InvalidDocument
from canonical.validation import prepare
from gateway.cli.io import DEFAULT_URL, STDIN, print_json, quiet_broken_pipe, read_input

ENVIRONMENT = """\
environment:
  PASARELA_CONFIG        tenants file of `serve` (default tenants.toml)
  PASARELA_DATABASE_URL  overrides [server] database
  PASARELA_SECRET_KEY    overrides [server] secret_key (seals provider secrets stored through the API)
  PASARELA_LOG_LEVEL     overrides [server] log_level of `serve` (debug|info|warning|error; --log-level wins)
  PASARELA_URL           gateway root URL of `emit` and `tenants ...` (default http://127.0.0.1:8000)
  PASARELA_API_KEY       tenant API key of `emit` and `tenants ...`
  PASARELA_ADMIN_KEY     admin key of `tenants list/create`
  PASARELA_SIM_DIAN_SOFTWARE  "ID:PIN,ID:PIN": the software the DIAN simulator knows (`simulators`)
  ${NAME}                any variable a tenants file names (credentials, keys)
"""


def cmd_preview(args: argparse.Namespace) -> int:
    """Offline: validate, compute totals and (with a tenant) show each eligible payload; exit 1 when
    the document is invalid or no account shown could take it."""
    try:
        document, totals = prepare(read_input(args.file))
    except InvalidDocument as exc:
        print_json({"valid": False, "errors": exc.errors})
        return 1
    except OSError as exc:
        print(f"pasarela preview: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"valid": True, "document": document, "totals": totals}
    if args.config:
        from gateway.documents.preview import payloads_for  # needs the tenants file and the adapters
        from gateway.tenants.config import ConfigError

        try:
            payloads = payloads_for(args.config, args.tenant, document, totals, args.provider)
        except ConfigError as exc:
            print(f"pasarela preview: {exc}", file=sys.stderr)
            return 2
        result["payloads"] = payloads
        print_json(result)
        return 0 if any(p.error is None and not p.unsupported for p in payloads) else 1
    print_json(result)
    return 0


def cmd_simulators(args: argparse.Namespace) -> int:
    """Every provider simulator on loopback, on fixed ports from --base-port."""
    from simulators.control import SimSettings
    from simulators.runner import serve

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        settings = SimSettings(trust=args.trust, hacienda_certificates=args.hacienda_certs)
        asyncio.run(serve(args.base_port, settings))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_hacienda_certificate(args: argparse.Namespace) -> int:
    """A test certificate in MH's `.crt` format (`<NIT>.crt`), for the simulator and a first run."""
    import getpass
    from pathlib import Path

    from adapters.hacienda.certificate import write_test_certificate

    password = os.environ.get(args.password_env) or getpass.getpass("private-key password: ")
    if not password:
        print("pasarela hacienda-certificate: a private-key password is needed", file=sys.stderr)
        return 2
    path = write_test_certificate(args.nit, password, Path(args.out))
    print(path)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The gateway over HTTP: API, store, background jobs (JSON logs, secrets redacted)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.cli import failures
    from gateway.observability import events
    from gateway.observability.logs import LEVELS, configure
    from gateway.tenants.account_check import unusable_accounts
    from gateway.tenants.config import ConfigError, load_config, secrets_of

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(
            f"pasarela serve: invalid tenants file {args.config}: {'; '.join(exc.problems)}", file=sys.stderr
        )
        return failures.EXIT_CONFIG
    except OSError as exc:
        print(f"pasarela serve: cannot read the tenants file: {exc}", file=sys.stderr)
        return failures.EXIT_CONFIG
    level = args.log_level or config.server.log_level  # the env already overrides the file (config)
    configure(secrets_of(config), LEVELS[level])
    for warning in config.warnings:
        events.emit("config.warning", warning=warning)
    for tenant_id, account, problem in unusable_accounts(config):  # the others still serve
        events.emit("config.problem", tenant=tenant_id, account=account, error=problem)
    if problem := failures.port_problem(args.host, args.port):
        print(f"pasarela serve: {problem}", file=sys.stderr)
        return failures.EXIT_PORT
    from gateway.documents.numbering_guard import NumberingBehind
    from gateway.startup import preflight
    from gateway.store.migrations import SchemaOutdated

    try:
        for warning in asyncio.run(preflight(config)):
            events.emit("config.warning", warning=warning)
    except (NumberingBehind, SchemaOutdated) as exc:
        print(f"pasarela serve: {exc}", file=sys.stderr)
        return failures.EXIT_CONFIG
    except Exception as exc:
        if (problem := failures.store_problem(exc, config.server.database)) is None:
            raise
        print(f"pasarela serve: {problem}", file=sys.stderr)
        return failures.EXIT_STORE
    if args.workers > 1:  # each worker loads the file itself; they share the store
        os.environ["PASARELA_CONFIG"] = str(Path(args.config).resolve())
        os.environ["PASARELA_LOG_LEVEL"] = level
        uvicorn.run(
            "gateway.app:from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
        )
    else:
        uvicorn.run(create_app(config), host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def cmd_emit(args: argparse.Namespace) -> int:
    """POST a document to a running gateway; exit 1 unless it was created and not refused."""
    import httpx

    if not args.api_key:
        print("pasarela emit: give --api-key or PASARELA_API_KEY", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {args.api_key}", "Content-Type": "application/json"}
    if args.idempotency_key:
        headers["Idempotency-Key"] = args.idempotency_key
    params = {"provider": args.provider} if args.provider else {}
    try:
        response = httpx.post(
            args.url.rstrip("/") + "/v1/documents",
            content=read_input(args.file),
            headers=headers,
            params=params,
            timeout=args.timeout,
        )
    except (OSError, httpx.HTTPError) as exc:
        print(f"pasarela emit: {exc}", file=sys.stderr)
        return 2
    try:
        body = response.json()
    except ValueError:
        body = {"status_code": response.status_code, "body": response.text}
    print_json(body)
    created = response.status_code in (201, 202)
    return 0 if created and body.get("status") not in ("rejected", "failed") else 1


def cmd_tenants_check(args: argparse.Namespace) -> int:
    """Validate a tenants file (with this environment) and open each account's credentials and
    certificate; list warnings such as literal secrets."""
    from gateway.tenants.account_check import account_problems
    from gateway.tenants.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except (ConfigError, OSError) as exc:
        print(f"pasarela tenants check: {exc}", file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    problems = account_problems(config)
    if problems:
        print("pasarela tenants check: unusable accounts:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    for tenant in config.tenants:
        accounts = ", ".join(f"{a.name} ({a.provider})" for a in tenant.accounts)
        print(
            f"{tenant.id}: {len(tenant.accounts)} account(s) [{accounts}], {len(tenant.routes)} route(s), "
            f"{len(tenant.numbering)} numbering range(s), {len(tenant.webhooks)} webhook(s)"
        )
    print("ok")
    return 0


def cmd_store_copy(args: argparse.Namespace) -> int:
    """Copy a whole store into an empty one (e.g. SQLite to PostgreSQL), counters with documents."""
    from gateway.store.copy import CopyRefused, copy_store
    from gateway.store.engine import dispose, make_engine

    async def copy() -> dict[str, int]:
        source, target = make_engine(args.source), make_engine(args.target)
        try:
            return await copy_store(source, target)
        finally:
            await dispose(source)
            await dispose(target)

    try:
        copied = asyncio.run(copy())
    except CopyRefused as exc:
        print(f"pasarela store copy: {exc}", file=sys.stderr)
        return 1
    print_json({"copied": copied})
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """`db current` prints the store's schema revision; `db upgrade` brings it to this version's."""
    from gateway.store import migrations
    from gateway.store.engine import dispose, make_engine
    from gateway.tenants.config import ConfigError, Server, load_config

    try:
        server = Server(database=args.db) if args.db else load_config(args.config).server
    except (ConfigError, OSError) as exc:
        print(f"pasarela db: {exc}", file=sys.stderr)
        return 2

    async def run() -> str | None:
        engine = make_engine(server.database, server=server)
        try:
            if args.db_command == "upgrade":
                return await migrations.upgrade(engine)
            return await migrations.current(engine)
        finally:
            await dispose(engine)

    at = asyncio.run(run())
    print_json({"current": at, "head": migrations.head()})
    return 0 if args.db_command == "upgrade" or at == migrations.head() else 1


def cmd_demo(args: argparse.Namespace) -> int:
    """The guided tour: simulators + gateway on loopback, a story of seven steps."""
    from demo.tour import run

    return run(keep=args.keep, port=args.port, base_port=args.base_port, keep_data=args.keep_data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pasarela",
        description="Provider-agnostic e-invoicing gateway",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("preview", help="validate a document and show its totals (offline)")
    p.add_argument("file", help=f"canonical document (JSON); {STDIN} reads stdin")
    p.add_argument("--config", help="tenants file: also show the payload each account would receive")
    p.add_argument("--tenant", help="tenant id in the tenants file")
    p.add_argument("--provider", help="only this account (an account name of the tenants file)")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser(
        "simulators",
        help="run every provider simulator on loopback",
        epilog='environment:\n  PASARELA_SIM_DIAN_SOFTWARE  "ID:PIN,ID:PIN": software registered at the DIAN '
        "simulator; others are rejected (FAB24b), as DIAN does",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--base-port", type=int, default=8101)
    p.add_argument("--trust", help="CA bundle: the DIAN simulator then accepts only certificates it signed")
    p.add_argument(
        "--hacienda-certs", help="folder of <NIT>.crt: the public keys the Hacienda simulator holds"
    )
    p.set_defaults(func=cmd_simulators)

    p = sub.add_parser("hacienda-certificate", help="make a test certificate in MH's .crt format")
    p.add_argument("--nit", required=True, help="the emisor's NIT, digits only")
    p.add_argument("--out", default=".", help="folder for <NIT>.crt")
    p.add_argument(
        "--password-env",
        default="MH_CERTIFICATE_PASSWORD",
        help="variable holding the private-key password (default MH_CERTIFICATE_PASSWORD; prompted when unset)",
    )
    p.set_defaults(func=cmd_hacienda_certificate)

    p = sub.add_parser(
        "serve",
        help="run the gateway (API, store, background jobs)",
        epilog=ENVIRONMENT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config",
        default=os.environ.get("PASARELA_CONFIG", "tenants.toml"),
        help="tenants file (env PASARELA_CONFIG; default tenants.toml)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="processes sharing the store (PostgreSQL advised)")
    p.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="wins over PASARELA_LOG_LEVEL and [server] log_level (default info)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("emit", help="send a document to a running gateway")
    p.add_argument("file", help=f"canonical document (JSON); {STDIN} reads stdin")
    p.add_argument(
        "--url",
        default=os.environ.get("PASARELA_URL", DEFAULT_URL),
        help=f"the gateway's root URL (env PASARELA_URL; default {DEFAULT_URL})",
    )
    p.add_argument("--api-key", default=os.environ.get("PASARELA_API_KEY"), help="env PASARELA_API_KEY")
    p.add_argument("--provider", help="force one provider account")
    p.add_argument("--idempotency-key")
    p.add_argument("--timeout", type=float, default=120.0)
    p.set_defaults(func=cmd_emit)

    p = sub.add_parser("tenants", help="tenants file tools")
    tenants = p.add_subparsers(dest="tenants_command", required=True)
    p = tenants.add_parser(
        "check", help="validate a tenants file, open its certificates, warn about literal secrets"
    )
    p.add_argument("file", help="tenants file; its ${NAME} references read this environment")
    p.set_defaults(func=cmd_tenants_check)
    from gateway.cli.admin import add_admin_commands  # keys, accounts, numbering, webhooks, tenants

    add_admin_commands(tenants)

    p = sub.add_parser("store", help="store tools")
    store = p.add_subparsers(dest="store_command", required=True)
    p = store.add_parser("copy", help="copy a whole store into an empty one, with the gateway stopped")
    p.add_argument("--from", dest="source", required=True, help="e.g. sqlite:///pasarela.db")
    p.add_argument(
        "--to", dest="target", required=True, help="e.g. postgresql://pasarela@127.0.0.1:5432/pasarela"
    )
    p.set_defaults(func=cmd_store_copy)

    p = sub.add_parser("db", help="the store's schema: which revision it is at, upgrade it")
    db = p.add_subparsers(dest="db_command", required=True)
    for name, text in (
        ("current", "print the store's schema revision and this version's (exit 1 when they differ)"),
        ("upgrade", "bring the store's schema to this version's (run before rolling a new version out)"),
    ):
        p = db.add_parser(name, help=text)
        p.add_argument(
            "--config",
            default=os.environ.get("PASARELA_CONFIG", "tenants.toml"),
            help="tenants file whose [server] names the store (env PASARELA_CONFIG; default tenants.toml)",
        )
        p.add_argument(
            "--db",
            default=os.environ.get("PASARELA_DATABASE_URL"),
            help="the store's URL instead (env PASARELA_DATABASE_URL), e.g. sqlite:///pasarela.db",
        )
        p.set_defaults(func=cmd_db)

    p = sub.add_parser("demo", help="run the guided tour on loopback (no credentials, no network)")
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the gateway and simulators running until Ctrl-C or SIGTERM, then clean up",
    )
    p.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the data folder afterwards (it holds the demo's plain-text keys and certificate)",
    )
    p.add_argument("--port", type=int, default=8000, help="gateway port")
    p.add_argument("--base-port", type=int, default=8101, help="first simulator port")
    p.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pasarela")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return quiet_broken_pipe(lambda: args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
