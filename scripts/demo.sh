#!/usr/bin/env bash
# The main job end to end on the embedded default (called by `make demo`):
# synthesize a registry -> validate -> features -> train/register/promote -> audit
# -> batch scores -> monitor -> start the scoring service with a demo caseworker token.
# Everything is written under $DEMO_DIR; MLflow uses the SQLite file ./mlflow.db.
set -euo pipefail

DEMO_DIR=${DEMO_DIR:-var/demo}
DEMO_FAMILIES=${DEMO_FAMILIES:-20000}
DEMO_SEED=${DEMO_SEED:-42}
DEMO_PORT=${DEMO_PORT:-3000}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
LATEST=2024-12-31
# the synthetic registry ends on LATEST: score ages (flags expire) count to that day
export EARLYRISK_SCORE_EXPIRY_TODAY="$LATEST"
RAW="$DEMO_DIR/raw"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir -p "$DEMO_DIR"

step "1/8 Synthesize a registry of $DEMO_FAMILIES families (seed $DEMO_SEED) into $RAW"
earlyrisk synth --families "$DEMO_FAMILIES" --seed "$DEMO_SEED" --out "$RAW" --overwrite

step "2/8 Validate it against the raw-data contract"
earlyrisk validate "$RAW"

step "3/8 Build point-in-time family indicators as of the latest quarter end ($LATEST)"
earlyrisk features --raw "$RAW" --as-of "$LATEST" --out "$DEMO_DIR/features_latest.parquet" --overwrite

step "4/8 Train, calibrate, evaluate, audit and register the model (MLflow: ./mlflow.db)"
# exit 3: the model was registered but did not pass every promotion gate (it is `challenger`)
TRAIN_STATUS=0
earlyrisk train --raw "$RAW" --report-dir "$DEMO_DIR/training_report" --require-promotion \
  || TRAIN_STATUS=$?
if [ "$TRAIN_STATUS" -eq 3 ]; then
  # The demo goes on with the challenger so every step can be seen; a real deployment never
  # does this: without a champion, `earlyrisk serve` refuses to start.
  export EARLYRISK_MODEL_ALIAS=challenger
  echo; printf '\033[1;33m%s\033[0m\n' \
    "DEMO ONLY: the new model did not pass every promotion gate (see the summary above and" \
    "$DEMO_DIR/training_report/training_report.html). The rest of the demo scores, monitors" \
    "and serves it as \`challenger\` to show the workflow; a ministry would not serve it."
elif [ "$TRAIN_STATUS" -ne 0 ]; then
  exit "$TRAIN_STATUS"
fi

step "5/8 Score every family as of $LATEST with reasons (batch)"
# The audit log that the batch and the service write is begun once, explicitly (--new-log,
# recorded in the security log); a later demo run continues it, and a log deleted with its
# anchor is refused rather than silently begun again.
AUDIT_LOG=${EARLYRISK_AUDIT_LOG_PATH:-var/serving/audit_log.sqlite}
ANCHOR=${EARLYRISK_AUDIT_ANCHOR_PATH:-$(dirname "$AUDIT_LOG")/.$(basename "$AUDIT_LOG").anchor.json}
if [ -z "${EARLYRISK_DATABASE_URL:-}" ] && [ ! -e "$ANCHOR" ] && [ ! -e "$AUDIT_LOG" ]; then
  earlyrisk serve --check --new-log --snapshot "$DEMO_DIR/features_latest.parquet"
fi
earlyrisk score --raw "$RAW" --as-of "$LATEST" --out "$DEMO_DIR/scores_latest.parquet" --overwrite

step "6/8 Audit the live scores (label-free: no outcomes yet) at a capacity of 5 % of families"
earlyrisk audit --scores "$DEMO_DIR/scores_latest.parquet" --score probability \
  --group audit_settlement --group audit_region --group audit_ethnicity \
  --group audit_single_parent --top-fraction 0.05 --out "$DEMO_DIR/audit_live" --overwrite

step "7/8 Monitor the model on the latest snapshot ($LATEST): drift, estimated and realized performance, fairness over time"
# exit 3 means an alert fired (the report says which and why); the demo goes on either way
MONITOR_STATUS=0
earlyrisk monitor --raw "$RAW" --as-of "$LATEST" --out "$DEMO_DIR/monitor" --overwrite || MONITOR_STATUS=$?
if [ "$MONITOR_STATUS" -ne 0 ] && [ "$MONITOR_STATUS" -ne 3 ]; then
  exit "$MONITOR_STATUS"
fi

step "8/8 Start the scoring service on http://127.0.0.1:$DEMO_PORT"
TOKEN=$(earlyrisk token create --role caseworker --quiet)
AUDITOR_TOKEN=$(earlyrisk token create --role auditor --quiet)
# a family near the top 1 % of scores: the kind a caseworker would look at first
# the MLflow UI's runs table of the training experiment (not its GenAI overview)
RUNS_URL=$(python -m training.mlflow_ui --tracking-uri sqlite:///mlflow.db --url "http://127.0.0.1:$MLFLOW_PORT")
FAMILY=$(python -c "
import sys, pandas as pd
scores = pd.read_parquet(sys.argv[1], columns=['family_id', 'probability']).dropna()
print(scores.sort_values('probability').family_id.iloc[int(len(scores) * 0.99)])
" "$DEMO_DIR/scores_latest.parquet")
cat <<MSG

Demo caseworker token (shown once): $TOKEN
Demo auditor token (shown once):    $AUDITOR_TOKEN
Reports (open in a browser, offline):
  training report      $DEMO_DIR/training_report/training_report.html
  fairness audit       $DEMO_DIR/training_report/fairness/fairness_report.html (test slice, with outcomes)
  model card           $DEMO_DIR/training_report/model_card/model_card.md (also in the MLflow run)
  live-score audit     $DEMO_DIR/audit_live/audit_report.html (label-free)
  monitoring           $DEMO_DIR/monitor/monitor_report.html (exit code $MONITOR_STATUS: 0 no alert, 3 alert)
MLflow, for the data scientist: in another terminal start the UI with
  mlflow server --backend-store-uri sqlite:///mlflow.db --port $MLFLOW_PORT
and open the training runs (experiment earlyrisk-training; monitoring runs are in
earlyrisk-training-monitoring):
  $RUNS_URL

Once the service says it is listening, paste this in another terminal:

  curl -s -X POST http://127.0.0.1:$DEMO_PORT/score \\
    -H 'Authorization: Bearer $TOKEN' -H 'Content-Type: application/json' \\
    -d '{"family_ids": ["$FAMILY"]}'

and, as an auditor, the model card and the log of every score served:

  curl -s -X POST http://127.0.0.1:$DEMO_PORT/model_card -H 'Authorization: Bearer $AUDITOR_TOKEN' -H 'Content-Type: application/json' -d '{}'
  curl -s -X POST http://127.0.0.1:$DEMO_PORT/audit_log -H 'Authorization: Bearer $AUDITOR_TOKEN' -H 'Content-Type: application/json' -d '{}'

As a caseworker in a browser: http://127.0.0.1:$DEMO_PORT/review (sign in with the
caseworker token above, find family $FAMILY).

Stop the service with Ctrl-C.
MSG
EARLYRISK_RAW_DIR="$RAW" exec earlyrisk serve --snapshot "$DEMO_DIR/features_latest.parquet" --port "$DEMO_PORT"
