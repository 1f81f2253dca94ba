"""The root of every error the project raises on purpose.

An error that derives from :class:`EarlyriskError` says what is wrong in words a user can
act on (it names the bad value, table, file or option), so the command line catches this
one type and prints its message with a non-zero exit code instead of a traceback. It lives
in ``features`` (the bottom layer) so that ``features``, ``training`` and ``serving`` can all
derive from it without an import cycle. Each subclass also keeps its standard base
(``ValueError``, ``LookupError``, ...), so callers that catch those still work.
"""

from __future__ import annotations


class EarlyriskError(Exception):
    """An expected failure with a message meant for the user."""
