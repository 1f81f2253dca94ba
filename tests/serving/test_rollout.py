"""The rollout's pure parts: the seeded assignment, the seal, the balance check, the power.

Every safeguard here fails on a constructed bad case: a config changed within a sealed
cycle, a tampered seal, arms chosen by a covariate instead of the hash.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from serving.rollout import (
    PowerTarget,
    RolloutConfig,
    RolloutError,
    assign,
    balance_check,
    draw,
    load_rollout_config,
    power_calculation,
    seal_problem,
    sealed_configs,
    standardized_difference,
)

CONFIG = {
    "cycle": "2025-Q1",
    "seed": 3,
    "regions": {"North": {"holdout_share": 0.2}, "South": {"version": "4"}},
}
IDS = [f"F{i:06d}" for i in range(5000)]


def test_assignment_is_a_pure_function_of_seed_cycle_and_family() -> None:
    config = RolloutConfig.model_validate(CONFIG)
    first = [assign(config, f, "North").arm for f in IDS]
    assert first == [assign(config, f, "North").arm for f in IDS]  # replayable
    share = np.mean([a == "holdout" for a in first])
    assert 0.18 < share < 0.22
    # South has no hold-out and is served by its own version; other regions by the champion
    assert {assign(config, f, "South").arm for f in IDS[:500]} == {"shown"}
    assert assign(config, IDS[0], "South").version == "4"
    assert assign(config, IDS[0], "East").version is None
    # a new cycle (or seed) re-draws the arms
    other = RolloutConfig.model_validate({**CONFIG, "cycle": "2025-Q2"})
    again = [assign(other, f, "North").arm for f in IDS]
    assert again != first
    assert draw(3, "2025-Q1", "F000001") == draw(3, "2025-Q1", "F000001")


def test_config_refuses_bad_values_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text("cycle: 2025-Q1\nseed: 1\nregions:\n  North:\n    holdout_share: 0.9\n")
    with pytest.raises(RolloutError, match="holdout_share"):
        load_rollout_config(path)
    path.write_text("cycle: 2025-Q1\nseed: 1\nregion: {}\n")
    with pytest.raises(RolloutError, match="region"):
        load_rollout_config(path)
    path.write_text("cycle: 2025-Q1\nseed: 1\nregions:\n  North:\n    holdout_share: 0.1\n")
    assert load_rollout_config(path).stage("North").holdout_share == 0.1


def test_a_sealed_cycle_refuses_another_config_and_a_tampered_seal() -> None:
    config = RolloutConfig.model_validate(CONFIG)
    entry = {
        "kind": "rollout",
        "seq": 1,
        "detail": {"config": json.loads(config.canonical_json()), "config_sha256": config.sha256()},
    }
    sealed = sealed_configs([entry])
    assert seal_problem(config, sealed) is None
    changed = RolloutConfig.model_validate({**CONFIG, "regions": {"North": {"holdout_share": 0.3}}})
    problem = seal_problem(changed, sealed)
    assert problem is not None and "already sealed" in problem
    assert seal_problem(changed.model_copy(update={"cycle": "2025-Q2"}), sealed) is None
    tampered = json.loads(json.dumps(entry))
    tampered["detail"]["config"]["seed"] = 4
    with pytest.raises(RolloutError, match="hashes to"):
        sealed_configs([tampered])


def _covariates(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {
        "prior_contacts": rng.poisson(2.0, n).astype(float),
        "income_share": rng.beta(2, 5, n),
        "children": rng.integers(1, 6, n).astype(float),
    }


def _split(cov: dict[str, np.ndarray], held: np.ndarray) -> dict:
    return {k: (v[held].tolist(), v[~held].tolist()) for k, v in cov.items()}


def test_balance_check_passes_the_hash_and_alarms_on_a_steered_assignment() -> None:
    rng = np.random.default_rng(0)
    cov = _covariates(rng, len(IDS))
    config = RolloutConfig.model_validate(CONFIG)
    hashed = np.array([assign(config, f, "North").withheld for f in IDS])
    ok = balance_check(_split(cov, hashed))
    assert ok["status"] == "pass", ok
    # a "hold-out" of the families with the most prior contacts: what a steered draw does
    steered = cov["prior_contacts"] >= np.quantile(cov["prior_contacts"], 0.8)
    bad = balance_check(_split(cov, steered))
    assert bad["status"] == "fail"
    assert [r["covariate"] for r in bad["covariates"] if r["imbalanced"]] == ["prior_contacts"]
    few = balance_check(_split({k: v[:40] for k, v in cov.items()}, hashed[:40]))
    assert few["status"] == "insufficient_evidence"


def test_standardized_difference_is_the_textbook_one() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.0]
    # means differ by 1, both variances 5/3
    assert standardized_difference(a, b) == pytest.approx(-1 / np.sqrt(5 / 3))
    assert standardized_difference([1.0], b) is None


def test_power_matches_the_fleiss_example_and_reports_short_arms() -> None:
    # 10 % vs 5 %, two-sided 5 %, power 80 %: 435 per arm without continuity correction
    target = PowerTarget(baseline_rate=0.10, relative_reduction=0.5, alpha=0.05, power=0.8)
    plan = power_calculation(target)
    assert plan["needed_per_arm"] == 435
    at_need = power_calculation(target, n_holdout=435, n_shown=435)
    assert at_need["achieved_power"] == pytest.approx(0.8, abs=0.01)
    assert at_need["status"] == "pass"
    short = power_calculation(target, n_holdout=100, n_shown=100)
    assert short["status"] == "insufficient_evidence" and short["achieved_power"] < 0.4
