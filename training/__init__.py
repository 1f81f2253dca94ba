"""Temporal splits, calibrated models, evaluation, fairness audit, MLflow tracking and gates."""
