"""Protected attributes by name: they audit, they never predict (never a model input).

One list for training's model-input check (:func:`training.models.check_model_inputs`) and
the service's refusal of such fields in ``/score_indicators`` (``serving.engine``), so the
two can never disagree about what is protected. It imports nothing, so the service reads
it without loading the training stack.
"""

from __future__ import annotations

#: Protected attributes by name, whatever prefix a table gives them.
PROTECTED_NAMES: frozenset[str] = frozenset(
    {
        "sex",
        "head_sex",
        "ethnicity",
        "primary_language",
        "disability_in_family",
        "religion",
        "nationality",
        "citizenship",
    }
)
