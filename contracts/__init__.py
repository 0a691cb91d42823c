"""Provider contracts: request schemas and documented examples, the single source of truth that
contract tests and simulators both read (ARCHITECTURE.md, Layout).

Loaded with importlib.resources so a non-editable install (the wheel) finds them too. JSON numbers
are read as Decimal: provider amounts are exact, never floats.

Conventions shared by the REST providers' folders (`contracts/<provider>/`):
- `request.schema.json`: one JSON Schema whose `$defs` holds each request body by name;
- `examples/request.<name>.json`: documented request bodies;
- `examples/<endpoint>.<status>[.<variant>].json`: documented responses as
  `{"status": int, "headers": {...}, "body": ...}`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema


def read_bytes(provider: str, *parts: str) -> bytes:
    """A file under `contracts/<provider>/`."""
    return files(__name__).joinpath(provider, *parts).read_bytes()


def load_json(provider: str, *parts: str) -> Any:
    """A JSON file under `contracts/<provider>/`, numbers with a fraction as Decimal."""
    return json.loads(read_bytes(provider, *parts), parse_float=Decimal)


def example(provider: str, name: str) -> Any:
    """`contracts/<provider>/examples/<name>.json`."""
    return load_json(provider, "examples", f"{name}.json")


def example_names(provider: str) -> list[str]:
    """Every example of a provider, by name (file stem), sorted."""
    folder = files(__name__).joinpath(provider, "examples")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


@cache
def request_validator(provider: str, name: str) -> jsonschema.protocols.Validator:
    """A validator for one request body: `$defs/<name>` of `contracts/<provider>/request.schema.json`."""
    schema = load_json(provider, "request.schema.json")
    root = {"$schema": schema.get("$schema"), "$ref": f"#/$defs/{name}", "$defs": schema["$defs"]}
    cls = jsonschema.validators.validator_for(root)
    cls.check_schema(root)
    return cls(root, format_checker=cls.FORMAT_CHECKER)


def request_errors(provider: str, name: str, body: Any) -> dict[str, list[str]]:
    """Every schema violation of a request body, keyed by dotted path (`lineas.0.iva_pct`, the way
    Laravel-style providers name fields); "" for the body itself."""
    found: dict[str, list[str]] = {}
    for error in request_validator(provider, name).iter_errors(body):
        path = ".".join(str(p) for p in error.absolute_path)
        found.setdefault(path, []).append(error.message)
    return found
