"""The refusals the engine, the cases and the worklist raise, and the service maps to HTTP.

Kept below :mod:`serving.engine` so the modules it builds on (:mod:`serving.casework`,
:mod:`serving.worklist`) raise the same errors without importing the engine; the engine
re-exports them under their old names.
"""

from __future__ import annotations

from features.errors import EarlyriskError


class RequestError(EarlyriskError, ValueError):
    """A request the service refuses (400), with a message naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UnknownFamilyError(EarlyriskError, LookupError):
    """A family not in the snapshot of the date (or outside the token's regions: the same
    answer, so a scoped token learns nothing of families elsewhere)."""


class UnknownScoreError(EarlyriskError, LookupError):
    """Feedback names a score_id that was never served (404)."""


UNKNOWN_SCORE_MESSAGE = "score_id was never served by this service"


class OutOfScopeScoreError(UnknownScoreError):
    """Feedback on a score of a family outside the caller's regions. The client gets the
    same 404 as for a score never served (a scoped token learns nothing of other regions'
    scores); the service records the refusal in the security log."""


class StaleDecisionError(EarlyriskError, RuntimeError):
    """A decision form named a decision in force that is no longer the one in force (someone
    decided in the meantime): nothing is recorded, the caseworker reads the new one first."""

    def __init__(self, expected: int | None, current: int | None) -> None:
        super().__init__(
            f"supersedes: the form replaces decision {expected} but decision {current} is in "
            "force now; read it and decide again"
        )
        self.expected = expected
        self.current = current
