"""Intersections of two audit attributes (e.g. rural x single-parent families).

Disparities can hide in combinations that no single attribute shows; pairs are audited
because triples are usually too small to say anything and would mostly be suppressed.
"""

from __future__ import annotations

from itertools import combinations

from training.audit.groups import Grouping, intersect


def pairwise_intersections(attributes: list[Grouping]) -> list[Grouping]:
    """Every pair of attributes, in the order the attributes were given."""
    return [intersect(a, b) for a, b in combinations(attributes, 2)]
