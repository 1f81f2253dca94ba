"""The registry aliases a training run's gates decide between.

``champion`` is the model the service loads; ``challenger`` a new version that did not pass
every gate (kept for comparison, never served). Named here, below the gates that decide
and the registry that sets them, so neither has to import the other for two strings.
"""

from __future__ import annotations

from typing import Final

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
