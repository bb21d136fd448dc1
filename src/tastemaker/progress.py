"""How long jobs report progress without knowing who displays it."""

from collections.abc import Callable

# (description, done, total): the shells draw a bar from it; libraries just call it.
Progress = Callable[[str, int, int], None]


def no_progress(description: str, done: int, total: int) -> None:
    """The default: report nothing."""
