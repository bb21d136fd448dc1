"""The exceptions the shells translate into a message for the user: each says what to
change, and leaves naming the way to change it (a CLI flag, an API argument, a ComfyUI
input) to the shell that shows it."""

from __future__ import annotations

from collections.abc import Callable


class TastemakerError(Exception):
    """A problem the user can fix; its message is shown as it is, without a traceback."""


class UnreadableImage(TastemakerError):
    """An image file that cannot be used; the message says why, the caller names the file."""


class StoreUnavailable(TastemakerError):
    """The store cannot take a write now (replaced, deleted, or the disk is full)."""


class SettingError(TastemakerError):
    """A setting with a value that cannot be used.

    ``setting`` is the setting's name as the settings dataclasses and the Python API
    spell it (``layers``, ``typical_seconds``); the message writes ``{setting}`` where it
    names it, so that each shell can say it in its own terms (:meth:`naming`): the CLI as
    its flag (``--layers``), the Python API as the argument it is (``layers``).
    """

    def __init__(self, setting: str, message: str) -> None:
        self.setting = setting
        self.template = message
        super().__init__(self.naming(lambda name: name))

    def naming(self, term: Callable[[str], str]) -> str:
        """The message with the setting called ``term(setting)``."""
        return self.template.replace("{setting}", term(self.setting))
