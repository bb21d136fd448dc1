"""The one exception the shells translate into a message for the user."""


class TastemakerError(Exception):
    """A problem the user can fix; its message is shown as it is, without a traceback."""


class UnreadableImage(TastemakerError):
    """An image file that cannot be used; the message says why, the caller names the file."""


class StoreUnavailable(TastemakerError):
    """The store cannot take a write now (replaced, deleted, or the disk is full)."""
