"""Record the texts a tiktoken counter encodes (to check that a warm path encodes nothing)."""

from __future__ import annotations

from langchain_ctxorch.tokens import TiktokenCounter


def spy_encodes(counter: TiktokenCounter) -> list[str]:
    """Route ``counter``'s encodes through a recorder; returns the texts encoded from now on."""
    seen: list[str] = []
    encode = counter._encode

    def recording(text: str) -> list[int]:
        seen.append(text)
        return encode(text)

    counter._encode = recording
    return seen
