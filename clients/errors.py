"""Errors the person at the command line fixes: `rnnvoice` prints them as one line, without a traceback."""


class UsageError(Exception):
    """A file, flag or setting the user has to fix; the message says which."""
