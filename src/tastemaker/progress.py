"""How long jobs report progress without knowing who displays it."""

from collections.abc import Callable

# (description, done, total): the shells draw a bar from it; libraries just call it.
# A total of 0 is a status, a step with nothing to count ("Loading efficientnet-lite0"),
# shown until the next report: long work says what it is doing from its first second.
Progress = Callable[[str, int, int], None]


def no_progress(description: str, done: int, total: int) -> None:
    """The default: report nothing."""
