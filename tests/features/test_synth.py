"""The synthetic registry: contract shape, determinism, the promised rates, the CLI.

The rates asserted here are the ones ``docs/synthetic_registry.md`` promises; tolerances
are a few standard errors at the sample sizes used, so a change of the generating process
that moves a rate shows up here.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from earlyrisk.cli import app
from features.contract import (
    DEFAULT_LABEL_OUTCOMES,
    EVENT_TYPES,
    OUTCOME_TYPES,
    ROLES,
    SETTLEMENTS,
    SEXES,
    TABLE_COLUMNS,
    TABLES,
    column_names,
)
from features.raw import read_raw
from features.synth import SynthConfig, generate_chunk, synthesize
from features.synth.calendar import Calendar
from features.synth.process import DEFAULT_PARAMS, ETHNICITIES, LANGUAGES, SOURCE_LAGS
from features.validation import validate_raw_dir

ARROW_KIND = {"id": pa.string(), "string": pa.string(), "date": pa.date32(), "float": pa.float64()}
PERIOD = (date(2020, 1, 1), date(2024, 12, 31))
SHORT = {"start": date(2021, 1, 1), "end": date(2022, 6, 30)}


def _digest(directory: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
    }


def _plain(output: str) -> str:
    """CLI output without rich's box drawing and line wrapping."""
    return " ".join(output.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def _days(series: pd.Series) -> pd.Series:
    return series.astype("datetime64[ns]")


# ---------------------------------------------------------------------------------------
# A medium sample (about 2000 families) for the rates, generated once
# ---------------------------------------------------------------------------------------


class Sample:
    """One chunk of ~2000 origin families in memory, with its latent path."""

    def __init__(self) -> None:
        self.config = SynthConfig(families=2000, seed=11)
        self.result = generate_chunk(self.config, 0)
        self.tables = {name: t.to_pandas() for name, t in self.result.tables.items()}
        self.calendar = Calendar.build(self.config.start, self.config.end)
        fams = self.tables["families"]
        self.family_index = pd.Series(
            np.arange(len(fams)), index=fams["family_id"].to_numpy()
        )  # families are written in slot order; every slot formed by the end is written

    def family_month_counts(self, event_types: list[str]) -> np.ndarray:
        """(families, months) records of the given types that carry a family_id."""
        events = self.tables["events"]
        rows = events[events["event_type"].isin(event_types) & events["family_id"].notna()]
        fam = self.family_index[rows["family_id"].to_numpy()].to_numpy()
        day = _days(rows["event_date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
        month = self.calendar.month_of_day(day)
        counts = np.zeros((self.result.population.n_families, self.calendar.n_months))
        np.add.at(counts, (fam, month), 1)
        return counts

    def rate_ratio_at_equal_state(self, event_types: list[str]) -> float:
        """Mantel-Haenszel rate ratio (surveilled / others) of records per family-month,
        stratified by the latent state, over months in which the family has a member."""
        counts = self.family_month_counts(event_types)
        members = self.result.population.members()[:, : self.calendar.n_months] > 0
        state = self.result.latent.state
        group = np.broadcast_to(self.result.surveilled[:, None], state.shape)
        numerator = denominator = 0.0
        for s in np.unique(state):
            stratum = members & (state == s)
            t1, t0 = (stratum & group).sum(), (stratum & ~group).sum()
            if t1 == 0 or t0 == 0:
                continue
            a, b = counts[stratum & group].sum(), counts[stratum & ~group].sum()
            numerator += a * t0 / (t0 + t1)
            denominator += b * t1 / (t0 + t1)
        return numerator / denominator

    def labels_at(self, as_of: pd.Timestamp) -> pd.DataFrame:
        """Ground truth at ``as_of`` with the recorded default label from the outcomes."""
        truth = self.tables["ground_truth"]
        truth = truth[_days(truth["as_of"]) == as_of]
        outcomes = self.tables["outcomes"]
        day = _days(outcomes["outcome_date"])
        hit = outcomes[
            outcomes["outcome_type"].isin(DEFAULT_LABEL_OUTCOMES)
            & (day > as_of)
            & (day <= as_of + pd.DateOffset(months=12))
        ]
        return truth.assign(label=truth["family_id"].isin(hit["family_id"]))


@pytest.fixture(scope="module")
def sample() -> Sample:
    return Sample()


# ---------------------------------------------------------------------------------------
# Contract shape
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_table_has_exactly_the_contract_columns_and_types(small_registry_dir, table):
    schema = pq.read_schema(small_registry_dir / f"{table}.parquet")
    assert schema.names == column_names(table)
    data = pq.read_table(small_registry_dir / f"{table}.parquet")
    assert data.num_rows > 0
    for column in TABLE_COLUMNS[table]:
        assert schema.field(column.name).type == ARROW_KIND[column.kind], column.name
        if not column.nullable:
            assert data[column.name].null_count == 0, f"{table}.{column.name} has nulls"


def test_output_passes_the_contract_validator(small_registry_dir):
    report = validate_raw_dir(small_registry_dir)
    assert report.ok, report.rules_broken()
    assert report.errors == []
    # the planted back-dated records are counted as suspicious, nothing else is
    assert {v.rule for v in report.suspicious} <= {"backdated_record"}


def test_vocabularies_are_the_contracts(small_registry_dir):
    raw = read_raw(small_registry_dir)
    assert set(raw.families["settlement"]) == set(SETTLEMENTS)
    assert set(raw.persons["sex"]) == set(SEXES)
    assert set(raw.memberships["role"]) == set(ROLES)
    assert set(raw.outcomes["outcome_type"]) <= set(OUTCOME_TYPES)
    events = raw.events
    assert set(events["event_type"]) == set(EVENT_TYPES)  # all 22 types occur, no others
    for name, spec in EVENT_TYPES.items():
        if spec.details is None:
            continue
        details = events.loc[events["event_type"] == name, "detail"]
        assert details.notna().all(), name
        assert set(details) <= set(spec.details), name
    protected = raw.protected
    assert set(protected["attribute"]) == {"ethnicity", "primary_language", "disability_in_family"}
    values = protected.groupby("attribute")["value"].agg(set)
    assert values["ethnicity"] <= set(ETHNICITIES)
    assert values["primary_language"] <= set(LANGUAGES)
    assert values["disability_in_family"] == {"yes", "no"}
    assert (protected.groupby("family_id").size() == 3).all()
    assert set(protected["family_id"]) == set(raw.families["family_id"])
    assert set(raw.families["region"]) <= {r.code for r in DEFAULT_PARAMS.regions}


def test_ids_unique_and_keys_resolve(small_registry_dir):
    raw = read_raw(small_registry_dir)
    assert raw.families["family_id"].is_unique
    assert raw.persons["person_id"].is_unique
    assert raw.events["event_id"].is_unique
    families, persons = set(raw.families["family_id"]), set(raw.persons["person_id"])
    assert set(raw.memberships["family_id"]) <= families
    assert set(raw.memberships["person_id"]) == persons  # nobody without a membership
    assert set(raw.events["family_id"].dropna()) <= families
    assert set(raw.events["person_id"].dropna()) <= persons
    assert (raw.events["family_id"].notna() | raw.events["person_id"].notna()).all()
    assert set(raw.outcomes["family_id"]) <= families


def test_dates_are_ordered_and_inside_the_period(small_registry_dir):
    raw = read_raw(small_registry_dir)
    start, end = (pd.Timestamp(d) for d in PERIOD)
    for table, happened in (("events", "event_date"), ("outcomes", "outcome_date")):
        frame = getattr(raw, table)
        assert (frame["recorded_date"] >= frame[happened]).all(), table
        assert frame[happened].between(start, end).all(), table
        assert (frame["recorded_date"] <= end).all(), table
    assert (raw.persons["birth_date"] <= end).all()
    assert (raw.families["registered_date"] <= end).all()
    members = raw.memberships
    closed = members["end_date"].notna()
    assert (members.loc[closed, "end_date"] >= members.loc[closed, "start_date"]).all()
    assert (members["start_date"] <= end).all()


def test_memberships_of_a_person_never_overlap(small_registry_dir):
    members = read_raw(small_registry_dir).memberships.sort_values(["person_id", "start_date"])
    same_person = members["person_id"].eq(members["person_id"].shift())
    previous_end = members["end_date"].shift()
    assert not (same_person & previous_end.isna()).any()  # an open interval is the last one
    assert (members.loc[same_person, "start_date"] > previous_end[same_person]).all()


def test_person_events_name_the_family_the_person_is_in_on_event_date(small_registry_dir):
    raw = read_raw(small_registry_dir)
    events = raw.events[raw.events["person_id"].notna()]
    joined = events.merge(raw.memberships, on="person_id", suffixes=("", "_m"))
    inside = (joined["start_date"] <= joined["event_date"]) & (
        joined["end_date"].isna() | (joined["event_date"] <= joined["end_date"])
    )
    joined = joined[inside]
    # every person-level record falls inside exactly one membership of its person
    assert joined["event_id"].is_unique
    assert set(joined["event_id"]) == set(events["event_id"])
    with_family = joined[joined["family_id"].notna()]
    assert len(with_family) > 0
    assert (with_family["family_id"] == with_family["family_id_m"]).all()
    # and some person-level records carry no family_id: readers must attribute them
    assert joined["family_id"].isna().mean() > 0.1


def test_ground_truth_covers_every_quarter_end_and_family_with_members(small_registry_dir):
    truth = pd.read_parquet(small_registry_dir / "ground_truth.parquet")
    assert list(truth.columns) == [
        "family_id",
        "as_of",
        "true_probability",
        "occurrence_probability",
        "latent_vulnerability",
    ]
    quarter_ends = pd.date_range("2020-03-31", "2024-12-31", freq="QE")
    assert sorted(_days(truth["as_of"]).unique()) == list(quarter_ends)
    assert not truth.duplicated(["family_id", "as_of"]).any()
    assert truth["true_probability"].between(0, 1).all()
    assert (truth["true_probability"] <= truth["occurrence_probability"] + 1e-12).all()
    raw = read_raw(small_registry_dir)
    members = raw.memberships
    for as_of in quarter_ends[[0, 9, 19]]:
        present = members[
            (members["start_date"] <= as_of)
            & (members["end_date"].isna() | (members["end_date"] >= as_of))
        ]
        at = truth[_days(truth["as_of"]) == as_of]
        assert set(at["family_id"]) == set(present["family_id"]), as_of


def test_csv_output_holds_the_same_data_as_parquet(tmp_path):
    config = SynthConfig(families=120, seed=5, **SHORT)
    synthesize(config, tmp_path / "pq", fmt="parquet")
    synthesize(config, tmp_path / "csv", fmt="csv")
    assert (tmp_path / "csv" / "ground_truth.parquet").exists()
    from_parquet, from_csv = read_raw(tmp_path / "pq"), read_raw(tmp_path / "csv")
    for (name, a), (_, b) in zip(from_parquet.items(), from_csv.items(), strict=True):
        pd.testing.assert_frame_equal(a, b, obj=name)
    assert validate_raw_dir(tmp_path / "csv").ok


# ---------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    config = SynthConfig(families=150, seed=3, **SHORT)
    synthesize(config, tmp_path / "a")
    synthesize(config, tmp_path / "b")
    synthesize(config.model_copy(update={"seed": 4}), tmp_path / "c")
    first, second, other = (_digest(tmp_path / x) for x in "abc")
    assert first == second
    assert set(first) == {f"{t}.parquet" for t in (*TABLES, "ground_truth")}
    for name in ("events.parquet", "persons.parquet", "ground_truth.parquet"):
        assert first[name] != other[name], name


def test_output_does_not_depend_on_worker_processes(tmp_path):
    config = SynthConfig(families=240, seed=9, chunk_families=80, **SHORT)
    synthesize(config, tmp_path / "one", workers=1)
    synthesize(config, tmp_path / "two", workers=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


def test_a_chunk_depends_only_on_the_master_seed_and_its_index():
    small = SynthConfig(families=80, seed=9, chunk_families=80, **SHORT)
    large = SynthConfig(families=240, seed=9, chunk_families=80, **SHORT)
    a, b = generate_chunk(small, 0), generate_chunk(large, 0)
    for name, table in a.tables.items():
        assert table.equals(b.tables[name]), name
    c = generate_chunk(large, 1)
    assert not c.tables["events"]["event_id"].equals(a.tables["events"]["event_id"])
    assert set(c.tables["families"]["family_id"].to_pylist()).isdisjoint(
        a.tables["families"]["family_id"].to_pylist()
    )


# ---------------------------------------------------------------------------------------
# The rates the docs promise (about 2000 families)
# ---------------------------------------------------------------------------------------


def test_true_probability_matches_a_monte_carlo_of_the_process(sample):
    """Simulate the chain forward from each family's state at a quarter end, with its own
    classes and minors, and count windows with a recorded case: the exact recursion must
    agree within Monte Carlo error (an off-by-one month or a missed factor would not)."""
    from features.synth.latent import case_hazard, detection_probability

    params = DEFAULT_PARAMS
    result, calendar = sample.result, sample.calendar
    pop, latent = result.population, result.latent
    q = 4  # 2021-03-31
    month = int(calendar.quarter_end_months[q])
    minors = pop.minors()
    truth = sample.tables["ground_truth"]
    truth = truth[_days(truth["as_of"]) == pd.Timestamp(calendar.quarter_end_days[q], unit="D")]
    fams = sample.family_index[truth["family_id"].to_numpy()].to_numpy()
    probability = truth["true_probability"].to_numpy()
    chosen = np.argsort(probability)[-60:]  # the riskiest families: the sharpest check
    fams, probability = fams[chosen], probability[chosen]
    rng = np.random.default_rng(0)
    draws = 4000
    cum = np.cumsum(params.latent.transitions(), axis=-1)
    detection = detection_probability(result.surveilled[fams], params.outcomes)
    state = np.repeat(latent.state[fams, month], draws)
    family = np.repeat(np.arange(len(fams)), draws)
    hit = np.zeros(len(state), dtype=bool)
    for step in range(month + 1, month + 13):
        shock = (rng.random(len(state)) < params.latent.shock_probability).astype(int)
        rows = cum[pop.class_path[fams, step][family], shock, state]
        state = np.minimum((rng.random(len(state))[:, None] > rows).sum(axis=1), rows.shape[1] - 1)
        hazard = case_hazard(latent.grid[state], minors[fams, step][family], params.outcomes)
        hit |= rng.random(len(state)) < hazard * detection[family]
    estimate = hit.reshape(len(fams), draws).mean(axis=1)
    error = np.sqrt(probability * (1 - probability) / draws)
    assert np.all(np.abs(estimate - probability) < 4.5 * error + 1e-3)
    assert abs(estimate.mean() - probability.mean()) < 3 * error.mean() / np.sqrt(len(fams))


def test_default_label_base_rate_is_two_to_five_percent_a_year(sample):
    for year in range(2020, 2024):
        at = sample.labels_at(pd.Timestamp(f"{year}-03-31"))
        assert 0.02 <= at["label"].mean() <= 0.05, (year, at["label"].mean())


def test_ground_truth_is_calibrated_against_the_recorded_labels(sample):
    frames = [sample.labels_at(pd.Timestamp(f"{y}-03-31")) for y in range(2020, 2024)]
    pooled = pd.concat(frames)
    expected = pooled["true_probability"].sum()
    sd = np.sqrt((pooled["true_probability"] * (1 - pooled["true_probability"])).sum())
    observed = pooled["label"].sum()
    assert abs(observed - expected) < 4 * sd, (observed, expected, sd)
    # and it discriminates: the top decile holds far more labels than the bottom half
    top = pooled["true_probability"] >= pooled["true_probability"].quantile(0.9)
    assert pooled.loc[top, "label"].mean() > 4 * pooled.loc[~top, "label"].mean()


def test_surveilled_group_gets_more_social_records_at_equal_latent_state(sample):
    biased = sample.rate_ratio_at_equal_state(
        ["social_service_contact", "domestic_violence_report", "police_contact"]
    )
    multiplier = DEFAULT_PARAMS.bias.record_multiplier
    assert multiplier / 1.4 < biased < multiplier * 1.4, biased
    # records outside the bias do not differ between the groups at equal state
    neutral = sample.rate_ratio_at_equal_state(
        ["utility_debt", "housing_inspection", "eviction_notice"]
    )
    assert 0.7 < neutral < 1.4, neutral


def test_surveilled_groups_outcomes_are_recorded_more_often(sample):
    truth = sample.tables["ground_truth"]
    truth = truth[truth["occurrence_probability"] > 1e-4]  # families with a minor
    ethnicity = sample.tables["protected"].query("attribute == 'ethnicity'")
    group = truth["family_id"].map(ethnicity.set_index("family_id")["value"])
    surveilled = group == DEFAULT_PARAMS.bias.value
    assert surveilled.sum() > 100
    # share of the cases that happen which end up recorded, per group
    recorded = truth.groupby(surveilled)["true_probability"].sum()
    happened = truth.groupby(surveilled)["occurrence_probability"].sum()
    share = recorded / happened
    outcomes = DEFAULT_PARAMS.outcomes
    # at least the per-case detection (several cases in a window count once) and close to it
    assert outcomes.detection_surveilled <= share[True] <= outcomes.detection_surveilled + 0.03
    assert outcomes.detection <= share[False] <= outcomes.detection + 0.06


def test_back_dated_records_are_a_small_documented_share(sample):
    events = sample.tables["events"]
    lag = (_days(events["recorded_date"]) - _days(events["event_date"])).dt.days
    share = (lag > 365).mean()
    assert 0.001 <= share <= 0.004, share
    assert (lag >= 0).all()


def test_reporting_lags_follow_each_source(sample):
    events = sample.tables["events"]
    lag = (_days(events["recorded_date"]) - _days(events["event_date"])).dt.days
    on_time = lag <= 365
    medians = lag[on_time].groupby(events.loc[on_time, "source"]).agg(["median", "size"])
    checked = 0
    for source, row in medians.iterrows():
        if row["size"] < 200:
            continue
        promised = SOURCE_LAGS[source].median_days
        assert abs(row["median"] - promised) <= max(1.5, 0.25 * promised), source
        checked += 1
    assert checked >= 8
    # sources really differ: income declarations lag weeks, emergency care a day
    assert medians.loc["state_revenue_committee", "median"] > 10
    assert medians.loc["emergency_care", "median"] <= 2


def test_households_change_over_time(sample):
    members = sample.tables["memberships"]
    per_person = members.groupby("person_id").size()
    assert (per_person >= 2).mean() > 0.03  # separations, children leaving, role changes
    start = pd.Timestamp(PERIOD[0])
    assert (_days(sample.tables["families"]["registered_date"]) >= start).sum() > 100
    born = _days(sample.tables["persons"]["birth_date"]) >= start
    assert born.sum() > 100
    ended = members[members["end_date"].notna()]
    assert set(ended["role"]) >= {"spouse", "child"}  # a spouse leaves; a child moves out


def test_protected_attributes_have_realistic_shares_and_follow_region(sample):
    protected = sample.tables["protected"]
    ethnicity = protected.query("attribute == 'ethnicity'").set_index("family_id")["value"]
    shares = ethnicity.value_counts(normalize=True)
    assert 0.62 <= shares["kazakh"] <= 0.78
    assert 0.10 <= shares["russian"] <= 0.24
    region = sample.tables["families"].set_index("family_id")["region"]
    russian = (ethnicity == "russian").groupby(region).mean()
    assert russian["KZ-SEV"] > 3 * russian["KZ-TUR"]  # north vs south
    disability = protected.query("attribute == 'disability_in_family'")["value"]
    assert 0.03 <= (disability == "yes").mean() <= 0.10


def test_vulnerability_differs_by_settlement_and_drives_every_domain(sample):
    truth = sample.tables["ground_truth"]
    settlement = truth["family_id"].map(
        sample.tables["families"].set_index("family_id")["settlement"]
    )
    by_settlement = truth.groupby(settlement)["latent_vulnerability"].mean()
    assert by_settlement["rural"] > by_settlement["urban"] + 0.1
    # in every domain, records are more frequent in high-vulnerability family-months
    state = sample.result.latent.z
    members = sample.result.population.members()[:, : sample.calendar.n_months] > 0
    high = members & (state >= 1.0)
    low = members & (state <= 0.0)
    domains: dict[str, list[str]] = {}
    for name, spec in EVENT_TYPES.items():
        if name != "income":  # the one record that becomes rarer: fewer people in work
            domains.setdefault(spec.domain, []).append(name)
    assert set(domains) == {"economic", "social", "housing", "health", "education"}
    for domain, types in domains.items():
        counts = sample.family_month_counts(types)
        assert counts[high].mean() > 1.2 * counts[low].mean(), domain
    income = sample.family_month_counts(["income"])
    assert income[high].mean() < 0.9 * income[low].mean()


def test_some_signals_lead_the_outcome(sample):
    events = sample.tables["events"]
    frames = []
    for year in range(2020, 2024):
        as_of = pd.Timestamp(f"{year}-09-30")
        recent = events[
            (events["event_type"] == "unemployment_registered")
            & events["family_id"].notna()
            & (_days(events["recorded_date"]) <= as_of)
            & (_days(events["event_date"]) > as_of - pd.DateOffset(months=6))
        ]
        at = sample.labels_at(as_of)
        frames.append(at.assign(signal=at["family_id"].isin(recent["family_id"])))
    pooled = pd.concat(frames)
    with_signal = pooled.loc[pooled["signal"], "true_probability"].mean()
    without = pooled.loc[~pooled["signal"], "true_probability"].mean()
    assert with_signal > 1.3 * without, (with_signal, without)


# ---------------------------------------------------------------------------------------
# Configuration and the CLI
# ---------------------------------------------------------------------------------------


def test_config_rejects_bad_arguments_with_the_numbers():
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        SynthConfig(families=0, seed=1)
    with pytest.raises(ValueError, match=r"end \(2020-01-01\) must be after start"):
        SynthConfig(families=10, seed=1, start=date(2020, 1, 1), end=date(2020, 1, 1))
    with pytest.raises(ValueError, match="extra"):
        SynthConfig(families=10, seed=1, family=3)


runner = CliRunner()


def test_cli_writes_the_registry_and_prints_a_summary(tmp_path):
    out = tmp_path / "reg"
    args = ["synth", "--families", "60", "--seed", "2", "--out", str(out), "--no-progress"]
    result = runner.invoke(app, [*args, "--start", "2022-01-01", "--end", "2022-12-31"])
    assert result.exit_code == 0, result.output
    assert "events" in result.output and "base rate" in result.output
    assert str(out) in result.output.replace("\n", "")
    assert {p.name for p in out.iterdir()} == {f"{t}.parquet" for t in (*TABLES, "ground_truth")}
    # a second run refuses to overwrite unless told to
    again = runner.invoke(app, [*args, "--start", "2022-01-01", "--end", "2022-12-31"])
    assert again.exit_code == 2
    assert "--overwrite" in again.output
    forced = runner.invoke(
        app, [*args, "--start", "2022-01-01", "--end", "2022-12-31", "--overwrite"]
    )
    assert forced.exit_code == 0, forced.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--families", "0"], "'--families' / '-n': Input should be greater than or equal to 1"),
        (
            ["--families", "5", "--start", "2023-01-01", "--end", "2022-01-01"],
            "--end 2022-01-01 must be after --start 2023-01-01",
        ),
        (["--families", "5", "--format", "xlsx"], "xlsx"),
    ],
)
def test_cli_rejects_bad_arguments(tmp_path, extra, message):
    result = runner.invoke(app, ["synth", "--out", str(tmp_path / "x"), "--no-progress", *extra])
    assert result.exit_code == 2
    assert message in _plain(result.output)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_cli_names_an_output_directory_it_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(
        app, ["synth", "--families", "5", "--out", str(blocker / "reg"), "--no-progress"]
    )
    assert result.exit_code == 2
    text = _plain(result.output)
    assert "Invalid value for --out: cannot create output directory" in text
    # rich may wrap the long path anywhere, even inside a name
    assert "a-file" in "".join(text.split())


def test_an_interrupted_run_leaves_no_table_behind(tmp_path, monkeypatch):
    import features.synth.pipeline as pipeline

    def broken(config, chunk, params):
        if chunk == 1:
            raise RuntimeError("disk full")
        return original(config, chunk, params)

    original = pipeline.run_chunk
    monkeypatch.setattr(pipeline, "run_chunk", broken)
    config = SynthConfig(families=40, seed=1, chunk_families=20, **SHORT)
    with pytest.raises(RuntimeError, match="disk full"):
        synthesize(config, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_ids_are_fixed_width_and_refuse_numbers_that_do_not_fit():
    from features.synth.ids import make_ids, make_nullable_ids

    ids = make_ids("P", 12, np.array([0, 7, 9_999_999]))
    assert ids.to_pylist() == ["P000120000000", "P000120000007", "P000129999999"]
    assert make_nullable_ids("F", 3, np.array([-1, 42])).to_pylist() == [None, "F00003000042"]
    with pytest.raises(ValueError, match=r"'F' ids of chunk 2: local numbers must lie in 0\.\."):
        make_ids("F", 2, np.array([1_000_000]))


def test_writer_refuses_a_table_whose_schema_is_not_the_contracts(tmp_path):
    from features.synth.writer import RegistryWriter, prepare_out_dir

    files = prepare_out_dir(tmp_path, "parquet", overwrite=False)
    wrong = pa.table({"family_id": ["F1"], "region": ["KZ-ALA"]})
    with (
        pytest.raises(TypeError, match="table 'families': schema"),
        RegistryWriter(files, "parquet") as writer,
    ):
        writer.write({"families": wrong})
    assert list(tmp_path.iterdir()) == []


def test_overwriting_with_another_format_removes_the_tables_that_would_shadow_it(tmp_path):
    config = SynthConfig(families=30, seed=1, **SHORT)
    synthesize(config, tmp_path, fmt="parquet")
    with pytest.raises(FileExistsError, match=r"families\.parquet"):
        synthesize(config, tmp_path, fmt="csv")
    synthesize(config.model_copy(update={"seed": 2}), tmp_path, fmt="csv", overwrite=True)
    assert not list(tmp_path.glob("*.parquet.partial"))
    assert {p.suffix for p in tmp_path.iterdir() if p.stem in TABLES} == {".csv"}
    assert (tmp_path / "ground_truth.parquet").exists()
