"""Render the shadow report and the monitor's deployment section on a synthetic audit log
and take their screenshots in Debian's chromium (what docs/shadow_and_rollout.md shows).

    PYTHONPATH=. python scripts/report_screenshots.py [--out docs]
    PYTHONPATH=. python scripts/report_screenshots.py --page d_ru.html docs/dossier_ru.png

Each page is shot in each language (its switch clicked: English, Russian, Kazakh) at
1280 px and on a 360 px phone (``shadow_report_kk_360.png``...). ``--html-only`` writes
the two pages and stops (tests/serving/test_report_pages_phone.py reads them). ``--page
HTML PNG`` (repeatable) only screenshots pages made elsewhere, e.g. explanation records
from `earlyrisk dossier --lang ru --out d_ru.html` on the demo registry.

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
from serving.monitor.report_html import _STYLE, VIEWPORT
from serving.monitor.shadow_report import audit_groups, read_pairs, shadow_report
from serving.monitor.shadow_report_html import render_shadow_html
from serving.rollout import RolloutConfig, assign, score_detail
from serving.store.audit_log import FeedbackRecord, ScoreRecord, ShadowRecord, open_audit_log

N = 600
#: a phone's width, as the review and family pages are tested at
PHONE = 360
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
            "econ_utility_debt_last": rng.gamma(2.0, 1.0, N),
            "edu_school_absence_days_90d": rng.poisson(3.0, N).astype(float),
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


def screenshot(html: Path, png: Path, width: int = 1280, *, switch: str | None = None) -> None:
    """The whole page at ``width`` px (below 500 px, a phone: headless Chromium's window is
    at least 500 px wide, so the viewport is emulated as a mobile device, as the page tests
    do), at most 4,000 px tall; ``switch``: the id of the language button clicked first
    (``shadow-kk``)."""
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
    metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500}
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        driver.get(html.as_uri())
        if switch is not None:
            driver.execute_script(f"document.getElementById('{switch}').click()")
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {**metrics, "height": min(height, 4000)}
        )
        driver.save_screenshot(str(png))
    finally:
        driver.quit()


def build_pages(work: Path) -> tuple[Path, Path]:
    """Write the made-up audit log into ``work`` and render the two pages from it: the
    shadow report and a monitoring page holding only its deployment section."""
    frame = families()
    probability = np.clip(0.02 + 0.06 * frame["econ_utility_debt_last"].to_numpy(), 0, 1)
    write_log(work / "audit.sqlite", frame, probability)
    frame.to_parquet(work / "snapshot.parquet")
    report = shadow_report(
        read_pairs(work / "audit.sqlite"), audit_groups(work / "snapshot.parquet"),
        min_group_size=11,
    )  # fmt: skip
    shadow = work / "shadow.html"
    shadow.write_text(render_shadow_html(report), encoding="utf-8")
    section = deployment_section(
        work / "audit.sqlite",
        after="2024-12-30",
        until=AS_OF,
        current=frame,
        probability=probability,
        covariates=["econ_utility_debt_last", "edu_school_absence_days_90d"],
        capacity_k=lambda n: max(1, round(0.1 * n)),
        calibrate=None,
        config=MonitorConfig(min_group_size=11),
    )
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>{VIEWPORT}"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>earlyrisk monitoring report (its deployment section)</h1></body></html>"
    )
    deployment = work / "deployment.html"
    deployment.write_text(with_deployment(page, section), encoding="utf-8")
    return shadow, deployment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument(
        "--page", nargs=2, action="append", metavar=("HTML", "PNG"), type=Path, default=[]
    )
    parser.add_argument("--width", type=int, default=1280, help="--page: window width (px)")
    parser.add_argument(
        "--html-only",
        action="store_true",
        help="write the two pages (shadow.html, deployment.html) into --out, no screenshots "
        "(what tests/serving/test_report_pages_phone.py looks at)",
    )
    args = parser.parse_args()
    if args.page:
        for html, png in args.page:
            screenshot(html.resolve(), png, width=args.width)
            print(f"wrote {png}")
        return
    if args.html_only:
        args.out.mkdir(parents=True, exist_ok=True)
        shadow, deployment = build_pages(args.out.resolve())
        print(f"wrote {shadow} and {deployment}")
        return
    shadow, deployment = build_pages(Path(tempfile.mkdtemp(prefix="earlyrisk-report-shots-")))
    pages = ((shadow, "shadow_report", "shadow"), (deployment, "monitor_deployment", "deployment"))
    for html, name, switch in pages:
        for lang in ("en", "ru", "kk"):
            for width in (1280, PHONE):
                png = args.out / f"{name}_{lang}_{width}.png"
                screenshot(html, png, width=width, switch=f"{switch}-{lang}")
    print(
        "wrote the shadow report and the deployment section in English, Russian and Kazakh "
        f"at 1280 and {PHONE} px in {args.out}"
    )


if __name__ == "__main__":
    main()
