"""The service's and batch scoring's booster calls take LightGBM's process-wide lock.

Training holds :data:`training.lightgbm_adapter.LIGHTGBM_LOCK` around every native call
(concurrent boosters crashed ``lib_lightgbm.so``); the explanations the service serves once
called ``booster.predict(pred_contrib=True)`` directly, outside it. Each test holds the lock
and calls the scoring path from another thread: the call must wait, then finish once the
lock is released (:mod:`lock_probe`; it fails when the call finishes while the lock is held).
"""

from __future__ import annotations

import numpy as np
from lock_probe import assert_waits_for_lightgbm_lock
from starlette.requests import Request

from serving.scoring import Scorer


def _call(service, method: str, token: str, **body):
    """Call an API method as BentoML does: inside a request context with headers."""
    from serving.service import EarlyRiskScoring

    headers = [(b"authorization", f"Bearer {token}".encode())]
    request = Request({"type": "http", "method": "POST", "path": f"/{method}", "headers": headers})
    ctx = EarlyRiskScoring.context
    with ctx.in_request(request):
        result = getattr(service, method)(**body, ctx=ctx)
        return result, ctx.response.status_code


def test_scorer_explanations_wait_for_the_lock(serving_world):
    """The core the service and batch scoring share: probabilities and reasons of rows."""
    model = serving_world.model
    frame = serving_world.frame
    X = frame.loc[frame["as_of"] == frame["as_of"].max(), model.feature_names].head(20)
    scorer = Scorer(model)
    scored = assert_waits_for_lightgbm_lock(lambda: scorer.score(X))
    np.testing.assert_array_equal(scored.probability, np.round(model.predict_proba(X), 4))
    assert len(scored.explanations) == len(X)


def test_service_score_waits_for_the_lock(service, tokens):
    """/score in process: the request's explanation waits for the lock training takes."""
    family = ["F00003"]
    # a first request loads what the engine caches (the reference population, predicted
    # under the lock already), so the probed request's only booster call is its explanation
    first, status = _call(service, "score", tokens["caseworker"], family_ids=family)
    assert status == 200 and first.results[0].status == "scored"
    result, status = assert_waits_for_lightgbm_lock(
        lambda: _call(service, "score", tokens["caseworker"], family_ids=family)
    )
    assert status == 200
    assert result.results[0].probability == first.results[0].probability
