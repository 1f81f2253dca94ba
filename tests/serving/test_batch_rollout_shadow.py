"""`earlyrisk score` keeps the rollout's and the shadow's promises, as `earlyrisk serve` does.

One world: champion v1 and a second version v2. A plain run, then a staged run whose
rollout serves one region by v2 and puts half of every other region's families in the
display hold-out, with v2 as the shadow. The file holds no shadow score (not a column, not
its metadata); every scored family has its shadow entry in the log, computed by v2; the
region's families carry v2's scores and levels; hold-out rows are `withheld` (score id,
no probability, level or reasons) and the others equal the plain run; the sealed
assignment replays from the log; a changed config for a sealed cycle, and a rollout on the
Spark engine, are refused before anything is scored.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from serving_world import MODEL_NAME, ServingWorld, build_world, snapshot_frame, train_model
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.catalogue import feature_list_fingerprint
from features.config import FeatureConfig
from serving.rollout import RolloutConfig, assign, replay
from training.registry import TAG_FEATURE_CONFIG, log_risk_model
from training.tracking import TrackingStore

AS_OF = "2024-06-30"


def _register_v2(world: ServingWorld) -> str:
    frame = snapshot_frame(seed=31)
    store = TrackingStore(world.tracking_uri)
    with store.run(store.experiment("serving-test")) as run:
        logged = log_risk_model(
            train_model(frame),
            run=run,
            input_example=frame,
            feature_list_sha256=feature_list_fingerprint(),
            registered_model_name=MODEL_NAME,
            extra_tags={TAG_FEATURE_CONFIG: FeatureConfig().model_dump_json()},
        )
    return logged.version


def _score(env: dict[str, str | None], raw: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        app,
        ["score", "--raw", str(raw), "--as-of", AS_OF, "--out", str(out), *extra],
        env={"COLUMNS": "400", **env},
    )


def _entries(log: Path) -> list[dict]:
    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("SELECT * FROM audit_entries ORDER BY seq")]
    for row in rows:
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
    return rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, small_registry_dir: Path):
    world = build_world(tmp_path_factory.mktemp("batch_stages"))
    v2 = _register_v2(world)
    root = world.root
    # None unsets a variable for the run: a rollout or shadow leaked into os.environ by
    # another test must not apply to the plain run
    env = {**world.env, "EARLYRISK_ROLLOUT_CONFIG_PATH": None, "EARLYRISK_SHADOW_MODEL_URI": None}
    plain = _score(env, small_registry_dir, root / "plain.parquet")
    assert plain.exit_code == 0, plain.output
    before = pd.read_parquet(root / "plain.parquet")
    region = before["audit_region"].value_counts().index[0]  # the largest region goes to v2
    config = RolloutConfig.model_validate(
        {
            "cycle": "2024-H2",
            "seed": 3,
            "regions": {region: {"version": v2}, "*": {"holdout_share": 0.5}},
        }
    )
    path = root / "rollout.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))  # JSON is YAML
    staged = _score(
        env,
        small_registry_dir,
        root / "staged.parquet",
        "--rollout",
        str(path),
        "--shadow",
        f"models:/{MODEL_NAME}/{v2}",
    )
    assert staged.exit_code == 0, staged.output
    return {
        "world": world,
        "env": env,
        "v1": world.model_version,
        "v2": v2,
        "region": region,
        "config": config,
        "config_path": path,
        "plain": before.set_index("family_id"),
        "staged": pd.read_parquet(root / "staged.parquet").set_index("family_id"),
        "staged_path": root / "staged.parquet",
        "log": Path(env["EARLYRISK_AUDIT_LOG_PATH"]),
        "output": staged.output,
    }


def _run_entries(runs) -> tuple[dict, list[dict], list[dict]]:
    entries = _entries(runs["log"])
    (started,) = [
        e
        for e in entries
        if e["kind"] == "batch_run"
        and e["decision"] == "started"
        and e["detail"]["output"] == str(runs["staged_path"].resolve())
    ]
    run = started["request_id"]
    scores = [e for e in entries if e["kind"] == "score" and e["request_id"] == run]
    shadows = [e for e in entries if e["kind"] == "shadow" and e["request_id"] == run]
    return started, scores, shadows


def test_the_file_holds_no_shadow_score(runs) -> None:
    staged, plain = runs["staged"], runs["plain"]
    assert list(staged.columns) == list(plain.columns)  # no column was added
    metadata = pq.read_schema(runs["staged_path"]).metadata
    assert not [k for k in metadata if b"shadow" in k.lower() or b"shadow" in metadata[k]]
    _, scores, shadows = _run_entries(runs)
    assert shadows and all(e["model_version"] == runs["v2"] for e in shadows)
    by_score = {e["detail"]["shadows"]: e for e in shadows}
    # every family the file scores (shown or withheld) has its shadow entry, and only those
    on_file = set(staged.loc[staged["score_id"].notna(), "score_id"])
    assert set(by_score) == on_file == {e["score_id"] for e in scores}
    # where v1 serves, the shadow's probability of a family is in none of its row's values
    served_v1 = staged.loc[(staged["status"] == "scored") & (staged["model_version"] == runs["v1"])]
    numeric = served_v1.select_dtypes("number")
    differing = 0
    for family_id, score_id in served_v1["score_id"].items():
        p = by_score[score_id]["probability"]
        if p != served_v1.at[family_id, "probability"]:
            differing += 1
            assert p not in set(numeric.loc[family_id].dropna()), family_id
    assert differing > 10


def test_the_region_is_served_by_its_version(runs) -> None:
    staged = runs["staged"]
    in_region = staged["audit_region"] == runs["region"]
    scored = staged["status"] != "ineligible"
    assert set(staged.loc[in_region & scored, "model_version"]) == {runs["v2"]}
    assert set(staged.loc[~in_region & scored, "model_version"]) == {runs["v1"]}
    # v2 is also the shadow: in its region the served score is the shadow's, level and all
    _, _, shadows = _run_entries(runs)
    by_score = {e["detail"]["shadows"]: e for e in shadows}
    rows = staged.loc[in_region & (staged["status"] == "scored")]
    assert len(rows) > 10
    for score_id, p, level in zip(rows["score_id"], rows["probability"], rows["risk_level"],
                                  strict=True):  # fmt: skip
        assert (by_score[score_id]["probability"], by_score[score_id]["risk_level"]) == (p, level)
    assert (rows["probability"] != runs["plain"].loc[rows.index, "probability"]).any()


def test_the_holdout_is_withheld_and_the_rest_is_the_plain_run(runs) -> None:
    staged, plain, config = runs["staged"], runs["plain"], runs["config"]
    outside = staged.loc[
        (staged["audit_region"] != runs["region"]) & (staged["status"] != "ineligible")
    ]
    held = [assign(config, f, r).withheld for f, r in zip(outside.index, outside["audit_region"],
                                                           strict=True)]  # fmt: skip
    withheld, shown = outside.loc[held], outside.loc[[not h for h in held]]
    assert len(withheld) > 10 and len(shown) > 10
    assert set(withheld["status"]) == {"withheld"} and withheld["score_id"].notna().all()
    for column in ("probability", "baseline_probability", "risk_level", "percentile"):
        assert withheld[column].isna().all(), column
    for column in ("reasons_raising", "reasons_lowering", "context"):
        assert withheld[column].isna().all(), column
    assert set(shown["status"]) == {"scored"}
    # the champion's bands are still set on its whole population: shown rows are unchanged
    pd.testing.assert_series_equal(shown["probability"], plain.loc[shown.index, "probability"])
    pd.testing.assert_series_equal(
        shown["risk_level"], plain.loc[shown.index, "risk_level"], check_dtype=False
    )
    assert "withheld" in runs["output"]  # the summary counts them


def test_the_sealed_assignment_replays_from_the_log(runs) -> None:
    entries = _entries(runs["log"])
    sealed = [e for e in entries if e["kind"] == "rollout"]
    assert len(sealed) == 1
    started, scores, _ = _run_entries(runs)
    assert sealed[0]["seq"] < started["seq"] < min(e["seq"] for e in scores)
    assert started["detail"]["rollout"] == runs["config"].sha256()
    report = replay(entries)
    assert report.ok and report.checked == len(scores)
    arms = {e["detail"]["arm"] for e in scores}
    assert arms == {"shown", "holdout"}


def test_a_changed_config_for_a_sealed_cycle_is_refused(runs, small_registry_dir) -> None:
    doc = runs["config"].model_dump(mode="json")
    doc["regions"]["*"]["holdout_share"] = 0.2
    path = runs["config_path"].with_name("changed.yaml")
    path.write_text(json.dumps(doc))
    count = len(_entries(runs["log"]))
    out = runs["world"].root / "changed.parquet"
    # given as the service's setting, not --rollout: the batch applies what the service does
    env = {**runs["env"], "EARLYRISK_ROLLOUT_CONFIG_PATH": str(path)}
    result = _score(env, small_registry_dir, out)
    assert result.exit_code == 1
    assert "already sealed" in result.output and "2024-H2" in result.output
    assert len(_entries(runs["log"])) == count and not out.exists()


def test_a_rollout_or_shadow_on_spark_is_refused(runs, small_registry_dir, tmp_path) -> None:
    for extra in (["--rollout", str(runs["config_path"])], ["--shadow", "models:/x/1"]):
        result = _score(
            runs["env"], small_registry_dir, tmp_path / "s", "--engine", "spark", *extra
        )
        assert result.exit_code == 2 and "pandas engine only" in result.output, result.output


def test_a_shadow_that_cannot_be_loaded_is_refused(runs, small_registry_dir) -> None:
    out = runs["world"].root / "bad_shadow.parquet"
    count = len(_entries(runs["log"]))
    result = _score(runs["env"], small_registry_dir, out, "--shadow", f"models:/{MODEL_NAME}/999")
    assert result.exit_code == 1 and "shadow model models:/" in result.output, result.output
    assert len(_entries(runs["log"])) == count and not out.exists()
