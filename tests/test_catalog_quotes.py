"""Every catalog entry quotes its document verbatim (an assumption quotes the passage it reads, too).

A quote is the document's own text. Passages joined from different places are separated by an explicit
elision mark (``…``); whitespace in the quote matches any run of whitespace in the document (a table
cell that ends a line is followed by a newline there), but the quote may not add a space where the
document has none, drop a character, or translate. The documents are transcribed in ``docs/documents/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cdpkit.schemas.catalog import Requirement, requirements

DOCUMENTS = Path(__file__).resolve().parent.parent / "docs" / "documents"
ELISION = "…"


def _folded(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def passages(quote: str) -> list[str]:
    """The verbatim passages a quote is made of (it joins them with ``…``)."""
    return [p for p in (_folded(part) for part in quote.split(ELISION)) if p]


def missing_passages(entry: Requirement) -> list[str]:
    document = _folded((DOCUMENTS / entry.seed).read_text(encoding="utf-8"))
    return [p for p in passages(entry.quote) if p not in document]


DOCUMENTED = [r for r in requirements() if r.documented]
ASSUMED = [r for r in requirements() if not r.documented]


def test_the_documents_are_transcribed() -> None:
    assert sorted(p.name for p in DOCUMENTS.glob("*.txt")) == sorted({r.seed for r in requirements()})


@pytest.mark.parametrize("entry", DOCUMENTED, ids=[r.id for r in DOCUMENTED])
def test_documented_quote_is_the_documents_text(entry: Requirement) -> None:
    assert passages(entry.quote), f"{entry.id}: empty quote"
    assert missing_passages(entry) == [], f"{entry.id}: not in {entry.seed} as written"


@pytest.mark.parametrize("entry", ASSUMED, ids=[r.id for r in ASSUMED])
def test_an_assumptions_quote_is_the_documents_text_too(entry: Requirement) -> None:
    """What the document leaves open is still read from a passage of it, quoted as written: a quote that
    adds words (a "(track)" to say which table) is a paraphrase, however helpful."""
    assert missing_passages(entry) == [], f"{entry.id}: not in {entry.seed} as written"


def test_the_check_tells_a_paraphrase_from_a_quote() -> None:
    """A space the Thai text lacks is caught; an explicit elision between two real passages is not."""
    entry = next(r for r in DOCUMENTED if r.seed.startswith("003_"))
    spaced = Requirement(**{**entry.__dict__, "quote": "ต้องระบุ อย่างน้อย"})
    assert missing_passages(spaced) == ["ต้องระบุ อย่างน้อย"]
    joined = Requirement(**{**entry.__dict__, "quote": "GET Endpoint … Authorization: Bearer ${token}"})
    assert missing_passages(joined) == []
