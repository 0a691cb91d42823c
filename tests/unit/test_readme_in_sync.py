"""The README's model reference and provider matrix are generated: they must match the code."""

from __future__ import annotations

from pathlib import Path

from gateway.docgen import render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_generated_sections_are_current():
    text = README.read_text()
    assert "<!-- model:start -->" in text and "<!-- providers:start -->" in text
    assert render(text) == text, "README is stale: run `.venv/bin/python -m gateway.docgen`"


def test_model_reference_lists_every_document_field():
    from canonical.document import Document
    from gateway.docgen import model_reference

    ref = model_reference()
    import msgspec

    for f in msgspec.structs.fields(Document):
        assert f"| `{f.encode_name}` |" in ref
