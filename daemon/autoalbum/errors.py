"""The one error family that `autoalbum` reports to the user as `error: ...` and exit 1."""


class AutoalbumError(Exception):
    """A problem the user can fix; the message says what happened and what to do."""
