"""Generated README sections: the canonical model reference and the provider matrix.

Generated from the Structs and from the adapters' declared capabilities, so the README cannot drift:
`python -m gateway.docgen` rewrites the marked blocks, and a test fails when they are stale.
"""

from __future__ import annotations

import re
import sys
import types
import typing
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import msgspec

from adapters.base import GROUP, adapter_classes
from canonical import document as model

MODEL_STRUCTS = (
    model.Document,
    model.Line,
    model.LineDiscount,
    model.TaxRate,
    model.Party,
    model.Address,
    model.Adjustment,
    model.Withholding,
    model.Payment,
    model.Reference,
    model.Reason,
)
BLOCK = "<!-- {name}:start -->\n{body}<!-- {name}:end -->"


def _type_name(tp: Any) -> str:
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if isinstance(tp, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args if a is not type(None)) + " (optional)"
    if origin is list:
        return f"list[{_type_name(args[0])}]"
    if origin is dict:
        return f"dict[{_type_name(args[0])}, {_type_name(args[1])}]"
    return getattr(tp, "__name__", str(tp))


def _description(tp: Any) -> str:
    for meta in typing.get_args(tp)[1:] if typing.get_origin(tp) is typing.Annotated else ():
        if isinstance(meta, msgspec.Meta) and meta.description:
            return meta.description
    return ""


def model_reference() -> str:
    out = []
    for struct in MODEL_STRUCTS:
        doc = (struct.__doc__ or "").strip().splitlines()[0] if struct.__doc__ else ""
        out.append(
            f"**{struct.__name__}**{': ' + doc if doc else ''}\n\n| field | type | default | meaning |\n|---|---|---|---|"
        )
        for f in msgspec.structs.fields(struct):
            if f.required:
                default = "required"
            elif f.default_factory is not msgspec.NODEFAULT:
                default = "`" + repr(f.default_factory()) + "`"
            else:
                default = "—" if f.default is None else f"`{f.default}`"
            out.append(f"| `{f.encode_name}` | {_type_name(f.type)} | {default} | {_description(f.type)} |")
        out.append("")
    return "\n".join(out)


def provider_matrix() -> str:
    """The installed adapters (entry points), not those a test or plugin registered at run time."""
    installed = {ep.name for ep in entry_points(group=GROUP)}
    adapters = {name: cls for name, cls in adapter_classes().items() if name in installed}
    rows = ["| provider | countries | kinds | numbering |", "|---|---|---|---|"]
    for name, cls in adapters.items():
        numbering = "gateway's range" if cls.numbering == "ours" else "provider's own"
        rows.append(
            f"| `{name}` | {', '.join(sorted(cls.countries))} | {', '.join(sorted(cls.kinds))} | {numbering} |"
        )
    return "\n".join(rows) + "\n"


SECTIONS = {"model": model_reference, "providers": provider_matrix}


def render(readme: str) -> str:
    for name, build in SECTIONS.items():
        pattern = re.compile(rf"<!-- {name}:start -->\n.*?<!-- {name}:end -->", re.S)
        readme = pattern.sub(lambda _m, n=name, b=build: BLOCK.format(name=n, body=b()), readme)
    return readme


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(render(path.read_text()))


if __name__ == "__main__":
    main()
