"""Every provider contract says where its facts come from (issue 15, "Evidence"): a SOURCES.md that
cites each public source by repository and commit or by URL, and judges each assumption of the
folder's README as confirmed, refuted or unverified. It ships with the contract (inside the wheel)."""

from __future__ import annotations

import re

import pytest

from contracts import read_bytes

PROVIDERS = ["apidian", "koywe", "smartapp", "facepro", "smartbill"]
VERDICTS = ("confirmed", "refuted", "unverified", "partly confirmed", "n/a")
CELL = re.compile(r"(?<!\\)\|")  # a table cell boundary; `\|` inside a cell is a literal pipe
CITATION = re.compile(r"\b[0-9a-f]{40}\b|https://\S+")


def sources(provider: str) -> str:
    return read_bytes(provider, "SOURCES.md").decode()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sources_cite_a_commit_or_an_address(provider):
    text = sources(provider)
    assert "## Sources" in text
    assert CITATION.search(text.split("## README assumptions")[0]), provider


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_judged_assumption_has_a_verdict(provider):
    table = sources(provider).split("## README assumptions")[1]
    rows = [
        line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| assumption")
    ]
    assert rows, provider
    for row in rows:
        cells = [cell.strip() for cell in CELL.split(row.strip().strip("|"))]
        assert len(cells) == 3, row
        assert cells[1].startswith(VERDICTS), row
