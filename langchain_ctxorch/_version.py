"""The package version: the one source for pyproject (hatch) and ``__version__``."""

__version__ = "0.1.0"
