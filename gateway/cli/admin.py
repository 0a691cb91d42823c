"""`pasarela tenants ...`: the administration API from the command line, against a running gateway.

One table row per operation (HTTP method, path, how the body is built from the arguments), so the
CLI and the API cannot drift apart in behaviour: the gateway validates, the CLI only carries.
Keys come from `--api-key`/`--admin-key` or `PASARELA_API_KEY`/`PASARELA_ADMIN_KEY`, never from
a file the CLI writes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from gateway.cli.io import DEFAULT_URL, STDIN, read_input


class Operation(NamedTuple):
    method: str
    path: str  # `{target}` is the positional argument
    body: Callable[[argparse.Namespace], Any] | None = None
    target: str | None = None  # the positional argument's name, when the operation takes one
    admin: bool = False  # the admin key, not a tenant key
    help: str = ""


def _data(args: argparse.Namespace) -> Any:
    """`--data '{"...": ...}'`, `--data @file.json`, or `--data -` (stdin)."""
    if not args.data:
        return {}
    if args.data == STDIN or args.data.startswith("@"):
        return json.loads(read_input(args.data.removeprefix("@")))
    return json.loads(args.data)


def succeeded(response: Any, body: Any) -> bool:
    """The outcome, not only the HTTP status: `accounts test` answers 200 with `"ok": false` when
    the provider refused the credentials, and that must fail a script."""
    return bool(response.is_success) and not (isinstance(body, dict) and body.get("ok") is False)


OPERATIONS: Final[dict[tuple[str, str], Operation]] = {
    ("keys", "list"): Operation("GET", "/v1/admin/api-keys", help="API keys (never their secrets)"),
    ("keys", "create"): Operation(
        "POST",
        "/v1/admin/api-keys",
        lambda a: {"label": a.label} if a.label else {},
        help="new key, shown once",
    ),
    ("keys", "revoke"): Operation(
        "DELETE", "/v1/admin/api-keys/{target}", target="key_id", help="stops at once"
    ),
    ("keys", "rotate"): Operation(
        "POST",
        "/v1/admin/api-keys/{target}/rotate",
        lambda a: {"overlap_s": a.overlap_s},
        target="key_id",
        help="new key; the old one works for --overlap-s more",
    ),
    ("accounts", "list"): Operation("GET", "/v1/admin/accounts", help="provider accounts"),
    ("accounts", "create"): Operation(
        "POST", "/v1/admin/accounts", _data, help="--data: name, provider, base_url, credentials"
    ),
    ("accounts", "update"): Operation(
        "PATCH", "/v1/admin/accounts/{target}", _data, target="name", help="--data: fields to change"
    ),
    ("accounts", "disable"): Operation(
        "PATCH",
        "/v1/admin/accounts/{target}",
        lambda a: {"enabled": False},
        target="name",
        help="stop routing to it",
    ),
    ("accounts", "enable"): Operation(
        "PATCH", "/v1/admin/accounts/{target}", lambda a: {"enabled": True}, target="name"
    ),
    ("accounts", "test"): Operation(
        "POST", "/v1/admin/accounts/{target}/test", target="name", help="health or me call"
    ),
    ("numbering", "list"): Operation("GET", "/v1/admin/numbering", help="ranges with used and remaining"),
    ("numbering", "create"): Operation(
        "POST", "/v1/admin/numbering", _data, help="--data: name, kinds, prefix, from, to, ..."
    ),
    ("numbering", "retire"): Operation("POST", "/v1/admin/numbering/{target}/retire", target="name"),
    ("numbering", "set-next"): Operation(
        "POST",
        "/v1/admin/numbering/{target}/next",
        lambda a: {"next": a.next},
        target="name",
        help="--next N: the consecutive the range gives next (never one already used)",
    ),
    ("numbering", "import"): Operation(
        "POST",
        "/v1/admin/numbering/import",
        lambda a: {"account": a.account},
        target="account",
        help="DIAN GetNumberingRange",
    ),
    ("webhooks", "list"): Operation("GET", "/v1/admin/webhooks"),
    ("webhooks", "create"): Operation(
        "POST",
        "/v1/admin/webhooks",
        lambda a: {"url": a.url_to, **({"events": a.events.split(",")} if a.events else {})},
        target="url_to",
        help="subscribe a URL; the secret is shown once",
    ),
    ("webhooks", "rotate-secret"): Operation(
        "POST",
        "/v1/admin/webhooks/{target}/rotate-secret",
        lambda a: {"overlap_s": a.overlap_s},
        target="hook_id",
        help="new secret; the old one also signs for --overlap-s more",
    ),
    ("webhooks", "delete"): Operation("DELETE", "/v1/admin/webhooks/{target}", target="hook_id"),
    ("webhooks", "deliveries"): Operation("GET", "/v1/admin/webhooks/deliveries", help="recent deliveries"),
    ("webhooks", "redeliver"): Operation(
        "POST", "/v1/admin/webhooks/deliveries/{target}/redeliver", target="delivery_id"
    ),
    ("tenants", "list"): Operation("GET", "/v1/tenants", admin=True),
    ("tenants", "create"): Operation(
        "POST", "/v1/tenants", _data, admin=True, help="--data: id, name, issuer"
    ),
}


def run(args: argparse.Namespace) -> int:
    import httpx

    op: Operation = args.operation
    key = args.admin_key if op.admin else args.api_key
    if not key:
        which = "--admin-key or PASARELA_ADMIN_KEY" if op.admin else "--api-key or PASARELA_API_KEY"
        print(f"pasarela tenants: give {which}", file=sys.stderr)
        return 2
    path = op.path.format(target=getattr(args, op.target) if op.target else "")
    try:
        body = op.body(args) if op.body else None
        response = httpx.request(
            op.method,
            args.url.rstrip("/") + path,
            json=body if op.method != "GET" else None,
            params={"state": args.state} if getattr(args, "state", None) else None,
            headers={"Authorization": f"Bearer {key}"},
            timeout=args.timeout,
        )
    except (OSError, ValueError, httpx.HTTPError) as exc:
        print(f"pasarela tenants: {exc}", file=sys.stderr)
        return 2
    try:
        body = response.json()
        shown = json.dumps(body, indent=2, ensure_ascii=False)
    except ValueError:
        body, shown = None, response.text
    print(shown)
    return 0 if succeeded(response, body) else 1


def add_admin_commands(tenants: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`pasarela tenants <group> <action> ...` for every row of OPERATIONS."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("PASARELA_URL", DEFAULT_URL),
        help=f"gateway root URL (env PASARELA_URL; default {DEFAULT_URL})",
    )
    common.add_argument(
        "--api-key", default=os.environ.get("PASARELA_API_KEY"), help="tenant API key (env PASARELA_API_KEY)"
    )
    common.add_argument(
        "--admin-key",
        default=os.environ.get("PASARELA_ADMIN_KEY"),
        help="admin key for tenants list/create (env PASARELA_ADMIN_KEY)",
    )
    common.add_argument("--timeout", type=float, default=30.0)
    groups: dict[str, argparse._SubParsersAction] = {}  # type: ignore[type-arg]
    for (group, action), op in OPERATIONS.items():
        if group == "tenants":
            parser = tenants.add_parser(
                action, parents=[common], help=op.help or f"{action} tenants (admin key)"
            )
        else:
            if group not in groups:
                groups[group] = tenants.add_parser(group, help=f"{group} of a tenant").add_subparsers(
                    dest=f"{group}_action", required=True
                )
            parser = groups[group].add_parser(action, parents=[common], help=op.help or None)
        if op.target:
            parser.add_argument(op.target)
        if op.body is _data:
            parser.add_argument("--data", help="JSON, @file.json, or - (stdin)")
        if (group, action) == ("numbering", "set-next"):
            parser.add_argument("--next", type=int, required=True)
        if (group, action) == ("keys", "create"):
            parser.add_argument("--label")
        if (group, action) in (("keys", "rotate"), ("webhooks", "rotate-secret")):
            parser.add_argument("--overlap-s", type=float, default=3600.0)
        if (group, action) == ("webhooks", "create"):
            parser.add_argument("--events", help="comma-separated; default: every event")
        if (group, action) == ("webhooks", "deliveries"):
            parser.add_argument("--state", choices=["pending", "delivered", "failed"])
        parser.set_defaults(func=run, operation=op)
