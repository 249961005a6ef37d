"""The integration suite's PostgreSQL fixtures, reused by the hardening suite.

``pytest_plugins`` may only be declared in the root conftest, so this module loads
``tests/integration_tests/conftest.py`` by path (under its own module name) and re-exports its
``postgres_server`` / ``postgres_dsn`` fixtures and the ``PostgresServer`` class; the hardening
conftest imports them, which registers the fixtures for ``tests/hardening`` only.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "ctxorch_integration_conftest"
_PATH = Path(__file__).resolve().parent.parent / "integration_tests" / "conftest.py"


def _load() -> object:
    module = sys.modules.get(_NAME)
    if module is not None:
        return module
    spec = importlib.util.spec_from_file_location(_NAME, _PATH)
    if spec is None or spec.loader is None:  # pragma: no cover - the file is in the repo
        msg = f"cannot load the integration fixtures from {_PATH}"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


_integration = _load()
PostgresServer = _integration.PostgresServer  # type: ignore[attr-defined]
postgres_server = _integration.postgres_server  # type: ignore[attr-defined]
postgres_dsn = _integration.postgres_dsn  # type: ignore[attr-defined]

__all__ = ["PostgresServer", "postgres_dsn", "postgres_server"]
