"""Hardening suite fixtures: the throwaway PostgreSQL server of the integration tests.

Importing the fixture functions here registers them for ``tests/hardening`` (see
``_hardening_pg``). The server is started lazily, only by tests that ask for it.
"""

from __future__ import annotations

from _hardening_pg import postgres_dsn, postgres_server

__all__ = ["postgres_dsn", "postgres_server"]
