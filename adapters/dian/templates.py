"""Signed XML as `str.format` templates, for the signatures made once per certificate.

A signature's per-message values (ids, times, digests, the value) are ids, numbers and base64,
which no serialisation escapes. So the tree is built once with unique markers in their place,
serialised by lxml or zeep as usual, and each marker becomes a format field: filling the fields
gives the very bytes the filled tree would serialise to (tests/unit/test_dian_equivalence.py).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping


def template(text: str, fields: Mapping[str, str]) -> str:
    """`text` with its braces escaped and each marker (key of `fields`) made its field (value)."""
    text = text.replace("{", "{{").replace("}", "}}")
    for marker, name in fields.items():
        text = text.replace(marker, "{" + name + "}")
    return text


def digest(data: bytes) -> str:
    """Base64 SHA-256, as ds:DigestValue holds it."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
