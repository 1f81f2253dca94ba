"""The audit report's charts keep every word on the picture.

The charts are drawn once at their own size (no ``tight_layout``, no ``bbox_inches="tight"``,
which measured by drawing each figure once more): training/audit/report_html.py sets the
margins itself, the left one from the widest group name. A name wider than the margin, or
a title or axis label outside the figure, would be cut off in the PNG without any error.
"""

from __future__ import annotations

import matplotlib
import pytest
from auditkit import make_scores
from matplotlib.figure import Figure

from training.audit import AuditResult, TopFraction, audit
from training.audit.report_html import _distribution_chart, _rate_chart, _reliability_chart

LONG = "a region with a long official name, district 12"


@pytest.fixture(scope="module")
def long_named_result() -> AuditResult:
    frame = make_scores(n=1500, seed=3)
    frame["region"] = frame["region"].replace({"R1": LONG, "R2": "$_$"})
    return audit(
        frame,
        score="prob",
        label="label",
        groups=["region"],
        rule=TopFraction(0.2),
        n_boot=20,
        min_group_size=5,
    )


def _drawn_outside(figure: Figure) -> list[str]:
    """The sides of the figure that its drawn artists cross, in inches (the box that
    ``bbox_inches="tight"`` would crop to, so every text that is drawn: tick labels, group
    names, titles, axis labels, legends)."""
    figure.canvas.draw()
    drawn = figure.get_tightbbox()  # the renderer of the draw above
    width, height = figure.get_size_inches()
    tolerance = 1 / figure.dpi  # one pixel
    sides = {
        "left": drawn.x0 < -tolerance,
        "bottom": drawn.y0 < -tolerance,
        "right": drawn.x1 > width + tolerance,
        "top": drawn.y1 > height + tolerance,
    }
    return [
        f"{side} ({[round(v, 2) for v in drawn.extents]} in a {width} x {height} figure)"
        for side, crossed in sides.items()
        if crossed
    ]


def test_every_group_name_title_and_label_is_inside_each_chart(
    long_named_result: AuditResult,
) -> None:
    with matplotlib.rc_context({"text.parse_math": False}):  # as render_html draws them
        figures = {
            "rates": _rate_chart(long_named_result, "region", ["selection_rate", "fpr", "fnr"]),
            "reliability": _reliability_chart(long_named_result, "region"),
            "distribution": _distribution_chart(long_named_result, "region"),
        }
        for name, figure in figures.items():
            assert figure is not None, name
            labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
            if name == "rates":  # the check reads the real names
                assert LONG in labels and "$_$" in labels
            assert _drawn_outside(figure) == [], name
