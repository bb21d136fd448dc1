"""The ``tastemaker`` command."""

from tastemaker.cli import commands as _commands  # noqa: F401  (registers the commands)
from tastemaker.cli.main import app

__all__ = ["app"]
