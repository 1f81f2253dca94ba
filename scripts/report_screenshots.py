"""Render the shadow report and the monitor's deployment section on a synthetic audit log
and take their screenshots in Debian's chromium (what docs/shadow_and_rollout.md shows).

    PYTHONPATH=. python scripts/report_screenshots.py [--out docs]
    PYTHONPATH=. python scripts/report_screenshots.py --page d_ru.html docs/dossier_ru.png

``--page HTML PNG`` (repeatable) only screenshots pages made elsewhere, e.g. explanation
records from `earlyrisk dossier --lang ru --out d_ru.html` on the demo registry.

The log is made up (600 families in three regions, a rollout with a hold-out, a shadow that
rates the rural families higher, caseworkers who agree with two levels in three), so the
pages show every part they have; nothing here reads a real registry.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from serving.monitor.config import MonitorConfig
from serving.monitor.deployment import deployment_section
from serving.monitor.deployment_html import with_deployment
from serving.monitor.report_html import _STYLE
from serving.monitor.shadow_report import audit_groups, read_pairs, shadow_report
from serving.monitor.shadow_report_html import render_shadow_html
from serving.rollout import RolloutConfig, assign, score_detail
from serving.store.audit_log import FeedbackRecord, ScoreRecord, ShadowRecord, open_audit_log

N = 600
AS_OF = "2024-12-31"
ROLLOUT = RolloutConfig.model_validate(
    {"cycle": "2025-Q1", "seed": 7, "regions": {"*": {"holdout_share": 0.3}}}
)


def families() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    return pd.DataFrame(
        {
            "family_id": [f"F{i:05d}" for i in range(N)],
            "as_of": pd.Timestamp(AS_OF),
            "utility_debt": rng.gamma(2.0, 1.0, N),
            "school_absences": rng.poisson(3.0, N).astype(float),
            "audit_region": rng.choice(["Almaty", "Karaganda", "Turkistan"], N),
            "audit_settlement": rng.choice(["urban", "rural"], N, p=[0.6, 0.4]),
            "label": (rng.random(N) < 0.12).astype(int),
            "label_observed": True,
        }
    )


def level(p: float) -> str:
    return "high" if p >= 0.25 else "elevated" if p >= 0.12 else "low"


def write_log(path: Path, frame: pd.DataFrame, probability: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    log = open_audit_log(path, new_log=True)
    try:
        log.record_rollout(
            config_json=ROLLOUT.canonical_json(),
            config_sha256=ROLLOUT.sha256(),
            cycle=ROLLOUT.cycle,
        )
        scores, shadows = [], []
        for i, row in frame.iterrows():
            p = float(round(probability[i], 4))
            rural = row["audit_settlement"] == "rural"
            q = float(round(np.clip(p * (1.25 if rural else 0.95) + rng.normal(0, 0.02), 0, 1), 4))
            score_id = uuid.uuid4().hex
            detail = score_detail(assign(ROLLOUT, row["family_id"], row["audit_region"]), ROLLOUT)
            scores.append(
                ScoreRecord(score_id, "r", "t", "caseworker", "score", row["family_id"], AS_OF,
                            "7", p, level(p), [], detail=detail)
            )  # fmt: skip
            shadows.append(
                ShadowRecord(score_id, "r", row["family_id"], AS_OF, "earlyrisk-family-risk",
                             "8", q, level(q), 50.0)
            )  # fmt: skip
        log.record_scores(scores, shadows)
        for i, s in enumerate(scores[:420]):
            agree = i % 3 > 0
            high = s.risk_level == "high"
            decision = (
                ("support_offered" if high else "no_action")
                if agree
                else ("override_lower" if high else "override_higher")
            )
            log.record_feedback(
                FeedbackRecord(s.score_id, uuid.uuid4().hex, "t", "caseworker", s.family_id,
                               decision, "seen at the home visit")
            )  # fmt: skip
    finally:
        log.close()


def screenshot(html: Path, png: Path, width: int = 1280) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        raise SystemExit("chromium and chromium-driver are needed (Debian packages)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(html.as_uri())
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": min(height, 4000), "deviceScaleFactor": 1, "mobile": False},
        )
        driver.save_screenshot(str(png))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument(
        "--page", nargs=2, action="append", metavar=("HTML", "PNG"), type=Path, default=[]
    )
    parser.add_argument("--width", type=int, default=1280, help="--page: window width (px)")
    args = parser.parse_args()
    if args.page:
        for html, png in args.page:
            screenshot(html.resolve(), png, width=args.width)
            print(f"wrote {png}")
        return
    work = Path(tempfile.mkdtemp(prefix="earlyrisk-report-shots-"))
    frame = families()
    probability = np.clip(0.02 + 0.06 * frame["utility_debt"].to_numpy(), 0, 1)
    write_log(work / "audit.sqlite", frame, probability)
    frame.to_parquet(work / "snapshot.parquet")
    report = shadow_report(
        read_pairs(work / "audit.sqlite"), audit_groups(work / "snapshot.parquet"),
        min_group_size=11,
    )  # fmt: skip
    (work / "shadow.html").write_text(render_shadow_html(report), encoding="utf-8")
    screenshot(work / "shadow.html", args.out / "shadow_report.png")
    section = deployment_section(
        work / "audit.sqlite",
        after="2024-12-30",
        until=AS_OF,
        current=frame,
        probability=probability,
        covariates=["utility_debt", "school_absences"],
        capacity_k=lambda n: max(1, round(0.1 * n)),
        calibrate=None,
        config=MonitorConfig(min_group_size=11),
    )
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><style>{_STYLE}</style>"
        "</head><body><h1>earlyrisk monitoring report (its deployment section)</h1>"
        "</body></html>"
    )
    (work / "deployment.html").write_text(with_deployment(page, section), encoding="utf-8")
    screenshot(work / "deployment.html", args.out / "monitor_deployment.png")
    print(f"wrote {args.out / 'shadow_report.png'} and {args.out / 'monitor_deployment.png'}")


if __name__ == "__main__":
    main()
