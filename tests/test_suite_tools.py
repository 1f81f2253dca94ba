"""The suite's own machinery: how files are handed to the workers, and the once-per-run
build of a shared world."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from scheduling import (
    LONGEST_FIRST,
    SHARED_UNITS,
    SPARK_FILES,
    SPARK_UNIT,
    UNIT_FIXTURES,
    order_key,
    unit_of,
)
from shared_cache import shared_build

TESTS = Path(__file__).resolve().parent


def _uses_fixture(path: Path, fixture: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef) and any(a.arg == fixture for a in node.args.args)
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize("unit", sorted(SHARED_UNITS))
def test_every_file_using_a_shared_session_part_is_in_its_unit(unit: str) -> None:
    """A file left out would start a second JVM (or server) on the other worker."""
    for fixture in UNIT_FIXTURES[unit]:
        users = {
            p.relative_to(TESTS).as_posix()
            for p in TESTS.rglob("test_*.py")
            if _uses_fixture(p, fixture)
        }
        assert users, f"no test file uses {fixture!r}: the check reads nothing"
        assert users <= SHARED_UNITS[unit], (fixture, sorted(users - SHARED_UNITS[unit]))
    assert {unit_of(f) for f in SHARED_UNITS[unit]} == {unit}
    # a file is in one unit only
    others = set().union(*(files for name, files in SHARED_UNITS.items() if name != unit))
    assert not SHARED_UNITS[unit] & others


def test_listed_units_exist_and_go_first() -> None:
    for unit in LONGEST_FIRST:
        assert unit in SHARED_UNITS or (TESTS / unit).is_file(), unit
    # the listed units go out in the listed order, each Spark file at the Spark unit's rank
    ranks = [order_key(unit, slow=True) for unit in LONGEST_FIRST]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    spark_rank = order_key(SPARK_UNIT, slow=False)
    assert {order_key(f, slow=False) for f in SPARK_FILES} == {spark_rank}
    # the Spark unit is among the longest (one JVM runs every Spark file)
    assert spark_rank < order_key(LONGEST_FIRST[3], slow=False)
    # an unlisted file: after every listed unit, the slow ones before the others
    listed_last = order_key(LONGEST_FIRST[-1], slow=False)
    assert listed_last < order_key("serving/new_file.py", slow=True)
    assert order_key("serving/new_file.py", slow=True) < order_key("x/test_y.py", slow=False)


def test_a_shared_world_is_built_once_and_a_failed_build_again(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    calls: list[Path] = []

    def build(root: Path) -> dict[str, object]:
        calls.append(root)
        (root / "made").write_text("x")
        return {"root": root}

    first = shared_build(tmp_path_factory, "once", build)
    second = shared_build(tmp_path_factory, "once", build)
    assert first == second and len(calls) == 1
    assert (first["root"] / "made").read_text() == "x"

    def broken(root: Path) -> None:
        (root / "half").write_text("x")
        raise RuntimeError("the build failed")

    with pytest.raises(RuntimeError, match="the build failed"):
        shared_build(tmp_path_factory, "retry", broken)
    again = shared_build(tmp_path_factory, "retry", build)  # starts from nothing
    assert not (again["root"] / "half").exists() and len(calls) == 2
