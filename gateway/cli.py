"""The `pasarela` command (ARCHITECTURE.md, Config and CLI): one subcommand per job."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import msgspec

from canonical.errors import InvalidDocument
from canonical.validation import prepare

_encoder = msgspec.json.Encoder()


def _print_json(value: Any) -> None:
    sys.stdout.write(msgspec.json.format(_encoder.encode(value), indent=2).decode() + "\n")


def cmd_preview(args: argparse.Namespace) -> int:
    """Offline: validate, compute totals and (with a tenant) show each eligible payload."""
    try:
        document, totals = prepare(Path(args.file).read_bytes())
    except InvalidDocument as exc:
        _print_json({"valid": False, "errors": exc.errors})
        return 1
    except OSError as exc:
        print(f"pasarela preview: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"valid": True, "document": document, "totals": totals}
    if args.config:
        from gateway.preview import payloads_for  # needs the tenants file and the adapters

        result["payloads"] = payloads_for(args.config, args.tenant, document, totals, args.provider)
    _print_json(result)
    return 0


def cmd_simulators(args: argparse.Namespace) -> int:
    """Every provider simulator on loopback, on fixed ports from --base-port."""
    from simulators.control import SimSettings
    from simulators.runner import serve

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        asyncio.run(serve(args.base_port, SimSettings(trust=args.trust)))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The guided tour: simulators + gateway on loopback, a story of seven steps."""
    from gateway.demo import run

    return run(keep=args.keep, port=args.port, base_port=args.base_port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pasarela", description="Provider-agnostic e-invoicing gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("preview", help="validate a document and show its totals (offline)")
    p.add_argument("file")
    p.add_argument("--config", help="tenants file: also show the payload each account would receive")
    p.add_argument("--tenant", help="tenant id in the tenants file")
    p.add_argument("--provider", help="only this account")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("simulators", help="run every provider simulator on loopback")
    p.add_argument("--base-port", type=int, default=8101)
    p.add_argument("--trust", help="CA bundle: the DIAN simulator then accepts only certificates it signed")
    p.set_defaults(func=cmd_simulators)

    p = sub.add_parser("demo", help="run the guided tour on loopback (no credentials, no network)")
    p.add_argument("--keep", action="store_true", help="leave the gateway and simulators running")
    p.add_argument("--port", type=int, default=8000, help="gateway port")
    p.add_argument("--base-port", type=int, default=8101, help="first simulator port")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
